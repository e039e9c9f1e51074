// The pure parts of the SDK, bundled on their own (test/.build/units.js, see tsup.config.ts)
// for the unit tests, which run without a server. Not part of the package.
export { Sequencer } from "./chat/sequencer.js";
export { Outbox } from "./chat/outbox.js";
export { syncRooms } from "./chat/sync.js";
export { CandidateQueue } from "./calls/candidates.js";
export { claimsOf, refreshDelayMs } from "./token.js";
export { ParleyError } from "./errors.js";
