// The fault test's chat clients: USERS users, each one official socket.io-client socket on
// /chat of one of the edges (alternating), with the client's own auto-reconnect. They send a
// steady stream of messages to group rooms and DMs while run.sh kills and restarts processes,
// then check that what was acknowledged reached everyone, exactly once, without seq gaps.
//
// Protocol with run.sh: the clients write READY_FILE once rooms exist and the load runs;
// SIGUSR2 stops the load, after which they drain, catch up, verify, print the summary, write
// RESULT_FILE (JSON) and exit 0 (all good), 1 (verification failed) or 2 (setup failed).
// PHASE_FILE, when set, holds the name of the fault run.sh is about to inject (written half a
// second before it); the clients read it every 200 ms and count reconnects, send latencies and
// delivery latencies per fault: a reconnect by the fault during which its disconnect happened,
// a message by the fault during which it was first sent. FAULT_NO_RECONNECT_FAULTS (names,
// comma- or space-separated) makes the run fail when a reconnect is counted for one of them;
// FAULT_NO_FINAL_ONLY=1, when a recipient got a message only from the final catch-up.
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { bump, jwtSecret, logger, request, sleep, token } from "./lib.mjs";

const setting = (name, fallback) => process.env[name] ?? fallback;
const EDGE_URLS = setting("FAULT_EDGE_URLS", "http://127.0.0.1:4000,http://127.0.0.1:4010").split(",");
const USERS = Number(setting("FAULT_USERS", 24));
const ROOM_SIZE = Number(setting("FAULT_ROOM_SIZE", 6));
const ROOMS = Number(setting("FAULT_ROOMS", Math.floor(USERS / ROOM_SIZE)));
const DMS = Number(setting("FAULT_DMS", 4));
const RATE = Number(setting("FAULT_RATE", 3)); // messages per second per user
const DM_SHARE = 0.3; // of the messages of a user who has a DM partner
const SECRET = jwtSecret();
const READY_FILE = setting("READY_FILE", "");
const RESULT_FILE = setting("RESULT_FILE", "");
const ACK_TIMEOUT_MS = Number(setting("FAULT_ACK_TIMEOUT_MS", 8000));
const MAX_IN_FLIGHT = 10; // per user; past it the user skips a beat (back-pressure)
const DRAIN_TIMEOUT_MS = 60_000; // after the stop, for every send to be acknowledged
const SETTLE_MS = 3000; // after the drain, for live events still on their way
const FINAL_TIMEOUT_MS = 60_000; // for the final catch-up and the history read
// When the server disconnects a socket (reason "io server disconnect"), the official client
// does not reconnect by itself; socket.io's documentation tells apps to call connect().
const MANUAL_RECONNECT = setting("FAULT_MANUAL_RECONNECT", "0") !== "0";
const PHASE_FILE = setting("PHASE_FILE", "");
const NO_RECONNECT_FAULTS = setting("FAULT_NO_RECONNECT_FAULTS", "").split(/[\s,]+/).filter(Boolean);
// 1: a message that reached a recipient only by the final catch-up (missed live, and nothing
// made the client sync) fails the run; otherwise it is only reported.
const NO_FINAL_ONLY = setting("FAULT_NO_FINAL_ONLY", "0") !== "0";

const started = Date.now();
const log = logger("clients");

/** The fault run.sh announced last ("warmup" before the first, "drain" once the load stopped). */
let phase = "warmup";
const phaseOrder = ["warmup"];
const readPhase = () => {
  if (!PHASE_FILE || phase === "drain") return;
  try {
    const name = readFileSync(PHASE_FILE, "utf8").trim();
    if (name && name !== phase) setPhase(name);
  } catch {
    // not written yet: still the warm-up
  }
};
const setPhase = (name) => {
  phase = name;
  if (!phaseOrder.includes(name)) phaseOrder.push(name);
};
/** Per fault: reconnects (by the phase of their disconnect), sends, ack and delivery latencies. */
const byPhase = new Map();
const phaseSlot = (name) => {
  let slot = byPhase.get(name);
  if (!slot) {
    slot = { reconnects: 0, disconnects: {}, sent: 0, ackMs: [], liveMs: [], sendFailures: {}, slowest: [], via: {}, maxByEdge: {} };
    byPhase.set(name, slot);
  }
  return slot;
};


const stats = {
  reconnects: 0,
  disconnectReasons: {},
  serverDisconnects: 0, // "io server disconnect": needs a manual connect()
  connectErrors: {},
  refusedConnects: 0, // connect_error with the socket inactive: needs a manual connect()
  sendFailures: {}, // per failed attempt: error code, TIMEOUT or DISCONNECTED
  otherCallFailures: {},
  catchUps: {}, // completed catch-ups by cause: reconnect, gap, final
  liveGaps: 0, // a live message arrived with a seq hole before it (own acks may come later)
  liveGapsSynced: 0, // ... and the hole was still there a second later: sync
  liveOutOfOrder: 0, // a live message with a lower seq than one seen live before it
  outOfOrderAt: {}, // ... by second of the run
  ackMismatches: [],
  throttled: 0,
};

/** Every message created: clientMsgId -> { sender, clientMsgId, payload, attempts, acked }. */
const outgoing = new Map();
/** Members (client indexes) of every room a message was acknowledged in. */
const roomMembers = new Map();
/** DM rooms by pair "a-b": a set, to spot a pair split over two rooms. */
const dmRooms = new Map();
const clients = [];
const byUserId = new Map();
let stopping = false;
const deliveries = new Set();

class Client {
  constructor(idx) {
    this.idx = idx;
    this.name = `fault${String(idx).padStart(2, "0")}`;
    this.id = randomUUID();
    this.url = EDGE_URLS[idx % EDGE_URLS.length];
    this.group = null; // room id of the user's group room
    this.groupMembers = [];
    this.dmPartner = null; // a Client
    this.rooms = new Map(); // roomId -> { contig, maxSeq, seqs: Map(seq -> id), gapTimer }
    this.view = new Map(); // message id -> { message, via }
    this.liveIds = new Set();
    this.liveDuplicates = 0;
    this.conflicts = []; // one seq with two ids, or one id at two seqs
    this.connects = 0;
    this.sent = 0;
    this.inFlight = 0;
    this.catching = null;
    this.catchAgain = null;
    this.waiters = [];
  }

  start() {
    const socket = io(`${this.url}/chat`, {
      auth: { token: token(SECRET, this.id, this.name) },
      forceNew: true, // one connection per user, as separate devices would have
      reconnectionDelay: 500,
      reconnectionDelayMax: 2000,
    });
    this.socket = socket;
    socket.on("connect", () => {
      this.connects += 1;
      for (const wake of this.waiters.splice(0)) wake();
      if (this.connects > 1) {
        stats.reconnects += 1;
        phaseSlot(this.disconnectedIn ?? phase).reconnects += 1;
        this.disconnectedIn = null;
        this.catchUp("reconnect");
      }
    });
    socket.on("disconnect", (reason) => {
      bump(stats.disconnectReasons, reason);
      readPhase();
      this.disconnectedIn ??= phase;
      bump(phaseSlot(phase).disconnects, reason);
      if (reason === "io server disconnect") {
        stats.serverDisconnects += 1;
        if (MANUAL_RECONNECT) setTimeout(() => socket.connect(), 200 + Math.random() * 300);
      }
    });
    socket.on("connect_error", (err) => {
      bump(stats.connectErrors, err.message);
      // A refusal by the server (not a transport failure) is not retried by the client.
      if (!socket.active) {
        stats.refusedConnects += 1;
        setTimeout(() => socket.connect(), 1000);
      }
    });
    socket.on("room-created", ({ room }) => this.room(room.id));
    socket.on("new-message", (message) => this.receive(message, "live"));
    socket.on("new-private-message", (message) => this.receive(message, "live"));
  }

  waitConnected() {
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  room(roomId) {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = { contig: 0, maxSeq: 0, liveMax: 0, seqs: new Map(), gapTimer: null };
      this.rooms.set(roomId, room);
    }
    return room;
  }

  /** A message into this client's view, from a live event, an ack or a sync. */
  receive(message, via) {
    if (via === "live") {
      if (this.liveIds.has(message.id)) {
        this.liveDuplicates += 1;
        return;
      }
      this.liveIds.add(message.id);
      // Delivery latency: from the first send attempt to this recipient's live event, when
      // the event is the first it hears of the message (not after a sync brought it).
      const record = outgoing.get(message.clientMsgId);
      if (record && record.sender !== this.idx && !this.view.has(message.id)) {
        const ms = Date.now() - record.firstAt;
        const slot = phaseSlot(record.phase);
        slot.liveMs.push(ms);
        slot.maxByEdge[this.url] = Math.max(slot.maxByEdge[this.url] ?? 0, ms);
        // The slowest deliveries of each fault, for the logs: which message, when.
        if (slot.slowest.length < 5 || ms > slot.slowest.at(-1).ms) {
          slot.slowest.push({ ms, roomId: message.roomId, seq: message.seq, clientMsgId: message.clientMsgId, sentAt: new Date(record.firstAt).toISOString(), deliveredAt: new Date().toISOString(), to: this.name });
          slot.slowest.sort((a, b) => b.ms - a.ms);
          slot.slowest.length = Math.min(slot.slowest.length, 5);
        }
      }
    }
    const room = this.room(message.roomId);
    const atSeq = room.seqs.get(message.seq);
    const known = this.view.get(message.id);
    if (atSeq !== undefined && atSeq !== message.id) {
      this.conflicts.push({ roomId: message.roomId, seq: message.seq, ids: [atSeq, message.id] });
      return;
    }
    if (known && known.message.seq !== message.seq) {
      this.conflicts.push({ id: message.id, seqs: [known.message.seq, message.seq] });
      return;
    }
    if (via === "live") {
      if (message.seq < room.liveMax) {
        stats.liveOutOfOrder += 1;
        bump(stats.outOfOrderAt, `${Math.floor((Date.now() - started) / 1000)}s`);
      }
      room.liveMax = Math.max(room.liveMax, message.seq);
    }
    if (!known) this.view.set(message.id, { message, via });
    room.seqs.set(message.seq, message.id);
    room.maxSeq = Math.max(room.maxSeq, message.seq);
    while (room.seqs.has(room.contig + 1)) room.contig += 1;
    // A hole below a live message: give late events a second, then ask for what is missing.
    if (via === "live" && room.contig < message.seq && !room.gapTimer) {
      stats.liveGaps += 1;
      room.gapTimer = setTimeout(() => {
        room.gapTimer = null;
        if (room.contig < message.seq) {
          stats.liveGapsSynced += 1;
          this.catchUp("gap");
        }
      }, 1000);
    }
  }

  /** An event with an ack; the ack's data, or throws AckError (code, TIMEOUT, DISCONNECTED). */
  call(event, payload) {
    return request(this.socket, event, payload, ACK_TIMEOUT_MS);
  }

  /** `call`, retried (after reconnects too) until it succeeds. */
  async callUntilOk(event, payload) {
    for (let attempt = 1; ; attempt++) {
      await this.waitConnected();
      try {
        return await this.call(event, payload);
      } catch (error) {
        bump(stats.otherCallFailures, `${event}:${error.code}`);
        await sleep(backoff(attempt, error.retryAfterMs));
      }
    }
  }

  /** list-rooms then sync from the last contiguous seq of every room, while hasMore. */
  catchUp(cause) {
    if (this.catching) {
      this.catchAgain = cause; // once the current one is done, again, for the latest cause
      return this.catching;
    }
    this.catching = (async () => {
      try {
        do {
          if (this.catchAgain) cause = this.catchAgain;
          this.catchAgain = null;
          let cursor;
          do {
            const page = await this.callUntilOk("list-rooms", { limit: 100, ...(cursor ? { cursor } : {}) });
            for (const room of page.rooms) this.room(room.id);
            cursor = page.nextCursor;
          } while (cursor);
          let want = Object.fromEntries([...this.rooms].map(([id, room]) => [id, room.contig]));
          while (Object.keys(want).length > 0) {
            const data = await this.callUntilOk("sync", { rooms: want });
            const next = {};
            for (const answer of data.rooms) {
              for (const message of answer.messages) this.receive(message, cause);
              // Past the last message returned, even if a hole stays below it: it is reported.
              const last = answer.messages.at(-1)?.seq ?? want[answer.roomId];
              if (answer.hasMore) next[answer.roomId] = last;
            }
            want = next;
          }
          bump(stats.catchUps, cause);
        } while (this.catchAgain);
      } finally {
        this.catching = null;
      }
    })();
    return this.catching;
  }

  /** One message every 1/RATE s on average, while fewer than MAX_IN_FLIGHT are unacknowledged. */
  startLoad() {
    const tick = () => {
      if (stopping) return;
      if (this.inFlight < MAX_IN_FLIGHT) this.sendNew();
      else stats.throttled += 1;
      setTimeout(tick, (1000 / RATE) * (0.5 + Math.random()));
    };
    setTimeout(tick, Math.random() * (1000 / RATE));
  }

  sendNew() {
    this.sent += 1;
    const clientMsgId = `${this.name}-${this.sent}-${randomUUID()}`;
    const toDm = this.dmPartner && Math.random() < DM_SHARE;
    const target = toDm ? { receiverId: this.dmPartner.id } : { chatRoomId: this.group };
    const record = {
      sender: this.idx,
      receiver: toDm ? this.dmPartner.idx : null,
      clientMsgId,
      payload: { ...target, content: `${this.name} #${this.sent}`, clientMsgId },
      attempts: 0,
      failures: [],
      acked: null,
      phase,
      firstAt: Date.now(),
    };
    phaseSlot(phase).sent += 1;
    outgoing.set(clientMsgId, record);
    this.inFlight += 1;
    const delivery = this.deliver(record).finally(() => {
      this.inFlight -= 1;
      deliveries.delete(delivery);
    });
    deliveries.add(delivery);
  }

  /** The sender rule: the same clientMsgId again, after reconnects too, until `{ ok: true }`. */
  async deliver(record) {
    for (;;) {
      await this.waitConnected();
      record.attempts += 1;
      try {
        const { message } = await this.call("send-message", record.payload);
        this.acknowledged(record, message);
        return;
      } catch (error) {
        bump(stats.sendFailures, error.code);
        bump(phaseSlot(record.phase).sendFailures, error.code);
        record.failures.push(error.code);
        await sleep(backoff(record.attempts, error.retryAfterMs));
      }
    }
  }

  acknowledged(record, message) {
    record.acked = message;
    phaseSlot(record.phase).ackMs.push(Date.now() - record.firstAt);
    const problems = [];
    if (message?.clientMsgId !== record.clientMsgId) problems.push("clientMsgId");
    if (message?.sender?.id !== this.id) problems.push("sender");
    if (record.payload.chatRoomId && message?.roomId !== record.payload.chatRoomId) problems.push("roomId");
    if (problems.length) stats.ackMismatches.push({ clientMsgId: record.clientMsgId, problems, message });
    if (!message) return;
    if (record.receiver !== null) {
      roomMembers.set(message.roomId, [this.idx, record.receiver]);
      const pair = [this.idx, record.receiver].sort((a, b) => a - b).join("-");
      if (!dmRooms.has(pair)) dmRooms.set(pair, new Set());
      dmRooms.get(pair).add(message.roomId);
    }
    // The sender's own view: the sending socket gets no event for its own DM.
    this.receive(message, "ack");
  }
}

function backoff(attempt, retryAfterMs) {
  if (retryAfterMs) return retryAfterMs;
  return Math.min(3000, 200 * 2 ** Math.min(attempt - 1, 4)) * (0.5 + Math.random() / 2);
}

/** Rejects after `ms` with `what` in the message. */
function within(ms, what, promise) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms / 1000} s`)), ms);
    }),
  ]);
}

async function setUp() {
  for (let idx = 0; idx < USERS; idx++) {
    const client = new Client(idx);
    clients.push(client);
    byUserId.set(client.id, client);
  }
  for (const client of clients) client.start();
  await within(30_000, "connecting every user", Promise.all(clients.map((client) => client.waitConnected())));
  log(`${USERS} users connected over ${EDGE_URLS.join(" and ")}`);

  // Group rooms: members 0..ROOM_SIZE-1 of room r are users r*ROOM_SIZE...; the first creates it.
  for (let r = 0; r < ROOMS; r++) {
    const members = clients.slice(r * ROOM_SIZE, (r + 1) * ROOM_SIZE);
    const [owner, ...others] = members;
    const { room } = await within(20_000, `creating room ${r}`, owner.callUntilOk("create-room", {
      name: `fault room ${r}`,
      isGroup: true,
      memberIds: others.map((member) => member.id),
    }));
    roomMembers.set(room.id, members.map((member) => member.idx));
    for (const member of members) {
      member.group = room.id;
      member.groupMembers = members;
      member.room(room.id);
    }
  }
  // DMs between the first member of room d and a member of the next room, on the other edge.
  for (let d = 0; d < DMS; d++) {
    const a = clients[(d * ROOM_SIZE) % USERS];
    const b = clients[(d * ROOM_SIZE + ROOM_SIZE + 1) % USERS];
    if (a === b || a.dmPartner || b.dmPartner) continue;
    a.dmPartner = b;
    b.dmPartner = a;
  }
  // Users without a room (USERS not a multiple of ROOM_SIZE) only send DMs, if they have one.
  for (const client of clients) {
    if (!client.group && !client.dmPartner) log(`${client.name} has no room and no DM partner: it only listens`);
  }
  // Let the membership events put every member's sockets in their rooms.
  await sleep(1000);
  log(`${ROOMS} rooms of ${ROOM_SIZE}, ${clients.filter((c) => c.dmPartner).length / 2} DM pairs; load: ${RATE} messages/s per user`);
}

function progress() {
  const records = [...outgoing.values()];
  const acked = records.filter((record) => record.acked).length;
  const connected = clients.filter((client) => client.socket.connected).length;
  log(
    `sent ${records.length}, acked ${acked}, pending ${records.length - acked},`,
    `retried ${records.filter((record) => record.attempts > 1).length},`,
    `connected ${connected}/${USERS}, reconnects ${stats.reconnects}`,
  );
}

/** Every message of a room, from seq 0, read by one of its members (storage check). */
async function readHistory(reader, roomId) {
  const messages = [];
  let seen = 0;
  for (;;) {
    const data = await reader.callUntilOk("sync", { rooms: { [roomId]: seen }, limit: 100 });
    const answer = data.rooms.find((room) => room.roomId === roomId);
    if (!answer) throw new Error(`sync left out room ${roomId} for member ${reader.name}`);
    messages.push(...answer.messages);
    if (!answer.hasMore) return messages;
    seen = answer.messages.at(-1)?.seq ?? seen;
  }
}

async function finish() {
  stopping = true;
  readPhase();
  setPhase("drain");
  log("load stopped; waiting for every send to be acknowledged");
  const ticker = setInterval(progress, 5000);
  try {
    await within(DRAIN_TIMEOUT_MS, "acknowledging every send", Promise.all([...deliveries]));
  } catch (error) {
    log(String(error.message));
  }
  await sleep(SETTLE_MS);
  log("final catch-up of every client");
  try {
    await within(FINAL_TIMEOUT_MS, "final catch-up", Promise.all(clients.map((client) => client.catchUp("final"))));
  } catch (error) {
    log(String(error.message));
  }
  log("reading the full history of every room");
  const history = new Map();
  try {
    await within(FINAL_TIMEOUT_MS, "reading history", Promise.all([...roomMembers].map(async ([roomId, members]) => {
      history.set(roomId, await readHistory(clients[members[0]], roomId));
    })));
  } catch (error) {
    log(String(error.message));
  }
  clearInterval(ticker);
  return verify(history);
}

function verify(history) {
  const records = [...outgoing.values()];
  const acked = records.filter((record) => record.acked);
  const retried = acked.filter((record) => record.attempts > 1);
  const problems = [];
  const note = (text) => problems.length < 20 && problems.push(text);

  // (a) Every acknowledged message is in the final view of every member of its room.
  let lost = 0;
  const lostMessages = new Set();
  for (const record of acked) {
    const message = record.acked;
    for (const idx of roomMembers.get(message.roomId) ?? []) {
      if (!clients[idx].view.has(message.id)) {
        lost += 1;
        lostMessages.add(message.id);
        note(`lost: ${message.id} (room ${message.roomId} seq ${message.seq}, ${record.clientMsgId}) not seen by ${clients[idx].name}`);
      }
    }
  }

  // (b) Stored once per (sender, clientMsgId); (c) seqs 1..N per room without gap or repeat.
  let duplicatedStored = 0;
  let seqGaps = 0;
  let seqRepeats = 0;
  let storedTotal = 0;
  let notStored = 0;
  let unknownStored = 0;
  const storedById = new Map();
  const perKey = new Map(); // across rooms: a retry must not land in another room either
  for (const [roomId, messages] of history) {
    storedTotal += messages.length;
    const seqs = new Map();
    for (const message of messages) {
      storedById.set(message.id, message);
      const key = `${message.sender?.id}|${message.clientMsgId}`;
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
      seqs.set(message.seq, (seqs.get(message.seq) ?? 0) + 1);
      if (!outgoing.has(message.clientMsgId)) {
        unknownStored += 1;
        note(`stored but never sent: ${message.id} in room ${roomId}`);
      }
    }
    const top = Math.max(0, ...seqs.keys());
    for (let seq = 1; seq <= top; seq++) {
      const count = seqs.get(seq) ?? 0;
      if (count === 0) {
        seqGaps += 1;
        note(`seq gap: room ${roomId} has no seq ${seq} (of ${top})`);
      }
      if (count > 1) {
        seqRepeats += count - 1;
        note(`seq repeat: room ${roomId} seq ${seq} ${count} times`);
      }
    }
  }
  for (const [key, count] of perKey) {
    if (count > 1) {
      duplicatedStored += count - 1;
      note(`stored ${count} times: sender|clientMsgId ${key}`);
    }
  }
  for (const record of acked) {
    const stored = storedById.get(record.acked.id);
    if (!stored || stored.seq !== record.acked.seq) {
      notStored += 1;
      note(`acknowledged but not in the room's history: ${record.acked.id} (${record.clientMsgId})`);
    }
  }
  const retriedStoredOnce = retried.filter(
    (record) => perKey.get(`${clients[record.sender].id}|${record.clientMsgId}`) === 1,
  ).length;

  // (d) Live duplicates (reported), and exactly once in each final view.
  const liveDuplicates = clients.reduce((sum, client) => sum + client.liveDuplicates, 0);
  let viewDuplicates = 0;
  let viewMismatches = 0;
  for (const client of clients) {
    const keys = new Map();
    for (const { message } of client.view.values()) {
      const key = `${message.sender?.id}|${message.clientMsgId}`;
      keys.set(key, (keys.get(key) ?? 0) + 1);
      const stored = storedById.get(message.id);
      if (history.has(message.roomId) && (!stored || stored.seq !== message.seq)) {
        viewMismatches += 1;
        note(`${client.name} holds ${message.id} (seq ${message.seq}) that the history does not`);
      }
    }
    for (const count of keys.values()) if (count > 1) viewDuplicates += count - 1;
  }
  const conflicts = clients.reduce((sum, client) => sum + client.conflicts.length, 0);
  for (const client of clients) for (const conflict of client.conflicts.slice(0, 3)) note(`${client.name} conflict: ${JSON.stringify(conflict)}`);

  // How messages reached their recipients (other than the sender): late = only the final sync.
  const via = {};
  for (const record of acked) {
    for (const idx of roomMembers.get(record.acked.roomId) ?? []) {
      const entry = clients[idx].view.get(record.acked.id);
      if (entry && idx !== record.sender) {
        bump(via, entry.via);
        bump(phaseSlot(record.phase).via, entry.via);
      }
    }
  }
  const splitDms = [...dmRooms.values()].filter((rooms) => rooms.size > 1).length;
  if (splitDms) note(`${splitDms} DM pair(s) have messages in more than one room`);
  for (const mismatch of stats.ackMismatches.slice(0, 3)) note(`ack mismatch: ${JSON.stringify(mismatch)}`);

  // Per fault: reconnects caused by it, and how long sends took to be acknowledged and to reach
  // their recipients live (milliseconds from the first attempt; p50, p99, max).
  const quantiles = (values) => {
    if (!values.length) return null;
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) };
  };
  const phases = {};
  for (const name of phaseOrder.filter((name) => byPhase.has(name))) {
    const slot = byPhase.get(name);
    phases[name] = {
      reconnects: slot.reconnects,
      disconnects: slot.disconnects,
      sent: slot.sent,
      sendFailures: slot.sendFailures,
      ackMs: quantiles(slot.ackMs),
      liveMs: quantiles(slot.liveMs),
      deliveredVia: slot.via,
      maxLiveMsByEdge: slot.maxByEdge,
      slowest: slot.slowest,
    };
  }
  const forbiddenReconnects = NO_RECONNECT_FAULTS.reduce((sum, name) => sum + (phases[name]?.reconnects ?? 0), 0);
  for (const name of NO_RECONNECT_FAULTS) {
    if (phases[name]?.reconnects) note(`${phases[name].reconnects} client reconnects after the "${name}" fault, which must cause none (disconnects ${JSON.stringify(phases[name].disconnects)})`);
  }

  const finalOnly = via.final ?? 0;
  if (NO_FINAL_ONLY && finalOnly) {
    const where = Object.entries(phases).filter(([, slot]) => slot.deliveredVia.final).map(([name, slot]) => `${name} ${slot.deliveredVia.final}`).join(", ");
    note(`${finalOnly} deliveries reached their recipient only by the final catch-up: live delivery stopped without the client noticing (by fault of sending: ${where})`);
  }

  const result = {
    sent: records.length,
    acked: acked.length,
    unacked: records.length - acked.length,
    retried: retried.length,
    retriedStoredOnce,
    retryAttempts: records.reduce((sum, record) => sum + Math.max(0, record.attempts - 1), 0),
    lost,
    lostMessages: lostMessages.size,
    notStored,
    duplicatedStored,
    unknownStored,
    seqGaps,
    seqRepeats,
    storedTotal,
    rooms: history.size,
    liveDuplicates,
    viewDuplicates,
    viewMismatches,
    conflicts,
    splitDms,
    deliveredVia: via,
    ...stats,
    ackMismatches: stats.ackMismatches.length,
    byFault: phases,
    noReconnectFaults: NO_RECONNECT_FAULTS,
    forbiddenReconnects,
    finalOnly,
  };
  result.pass =
    result.lost === 0 &&
    result.notStored === 0 &&
    result.duplicatedStored === 0 &&
    result.seqGaps === 0 &&
    result.seqRepeats === 0 &&
    result.unacked === 0 &&
    result.viewDuplicates === 0 &&
    result.conflicts === 0 &&
    result.viewMismatches === 0 &&
    result.forbiddenReconnects === 0 &&
    (!NO_FINAL_ONLY || result.finalOnly === 0) &&
    history.size === roomMembers.size;

  console.log("");
  console.log("---- fault test summary ----");
  console.log(`messages  sent ${result.sent}, acknowledged ${result.acked}, never acknowledged ${result.unacked}`);
  console.log(`retried   ${result.retried} messages (${result.retryAttempts} extra attempts); stored exactly once: ${result.retriedStoredOnce} of ${result.retried}`);
  console.log(`          failed attempts by cause: ${JSON.stringify(stats.sendFailures)}`);
  console.log(`lost      ${result.lost} deliveries (${result.lostMessages} messages); acknowledged but not stored: ${result.notStored}`);
  console.log(`stored    ${result.storedTotal} messages in ${result.rooms}/${roomMembers.size} rooms; duplicated: ${result.duplicatedStored}; never sent: ${result.unknownStored}`);
  console.log(`seq       gaps ${result.seqGaps}, repeats ${result.seqRepeats}`);
  console.log(`delivery  to recipients by ${JSON.stringify(via)} (final = only by the final sync)`);
  console.log(`          live duplicates ${result.liveDuplicates} (reported), duplicates in final views ${result.viewDuplicates}, view/history mismatches ${result.viewMismatches}, conflicts ${result.conflicts}`);
  console.log(`reconnect ${result.reconnects} reconnects; disconnects ${JSON.stringify(stats.disconnectReasons)}; server-initiated ${stats.serverDisconnects}${MANUAL_RECONNECT ? " (reconnected by connect())" : " (not reconnected)"}; refused connects ${stats.refusedConnects} ${JSON.stringify(stats.connectErrors)}`);
  console.log(`catch-up  ${JSON.stringify(stats.catchUps)}; live seq holes still open after 1 s (synced) ${stats.liveGapsSynced}, live out of order ${stats.liveOutOfOrder}; failed calls ${JSON.stringify(stats.otherCallFailures)}`);
  if (stats.liveOutOfOrder) console.log(`          live out of order by second of the run: ${JSON.stringify(stats.outOfOrderAt)}`);
  if (splitDms || result.ackMismatches) console.log(`anomalies split DM pairs ${splitDms}, ack mismatches ${result.ackMismatches}`);
  const ms = (q) => (q ? `p50 ${q.p50} / p99 ${q.p99} / max ${q.max} ms` : "-");
  for (const [name, slot] of Object.entries(phases)) {
    console.log(`by fault  "${name}": reconnects ${slot.reconnects}, disconnects ${JSON.stringify(slot.disconnects)}; sent ${slot.sent}, failed attempts ${JSON.stringify(slot.sendFailures)}; acked after ${ms(slot.ackMs)}; delivered live after ${ms(slot.liveMs)}; recipients reached by ${JSON.stringify(slot.deliveredVia)}; slowest live by edge ${JSON.stringify(slot.maxLiveMsByEdge)}`);
    if (slot.liveMs && slot.liveMs.max > 2000) console.log(`          slowest: ${slot.slowest.map((d) => `${d.ms} ms (room ${d.roomId.slice(0, 8)} seq ${d.seq}, sent ${d.sentAt.slice(11, 23)}, to ${d.to} at ${d.deliveredAt.slice(11, 23)})`).join("; ")}`);
  }
  if (NO_RECONNECT_FAULTS.length) console.log(`          reconnects that must not happen (after ${NO_RECONNECT_FAULTS.join(", ")}): ${forbiddenReconnects}`);
  for (const problem of problems) console.log(`  ! ${problem}`);
  console.log(
    `RESULT ${result.pass ? "PASS" : "FAIL"}: acked=${result.acked} retried=${result.retried} lost=${result.lost}`,
    `duplicated=${result.duplicatedStored} seq-gaps=${result.seqGaps} seq-repeats=${result.seqRepeats}`,
    `unacked=${result.unacked} reconnects=${result.reconnects} live-dups=${result.liveDuplicates}`,
  );
  // One line per run for run.sh's summary: reconnects and the slowest live delivery, by fault.
  console.log(`BY FAULT: ${Object.entries(phases).filter(([name]) => name !== "drain")
    .map(([name, slot]) => `${name} reconnects=${slot.reconnects} max-delivery=${slot.liveMs ? `${(slot.liveMs.max / 1000).toFixed(2)}s` : "-"} only-final=${slot.deliveredVia.final ?? 0}`).join(", ")}`);
  if (RESULT_FILE) writeFileSync(RESULT_FILE, JSON.stringify(result, null, 2));
  return result.pass;
}

async function main() {
  let stop;
  const stopped = new Promise((resolve) => (stop = resolve));
  process.on("SIGUSR2", () => stop());
  try {
    await setUp();
  } catch (error) {
    log(`setup failed: ${error.message}`);
    process.exit(2);
  }
  readPhase();
  setInterval(readPhase, 200).unref();
  for (const client of clients) client.startLoad();
  if (READY_FILE) writeFileSync(READY_FILE, "ready\n");
  log("load running");
  const ticker = setInterval(progress, 5000);
  await stopped;
  clearInterval(ticker);
  const pass = await finish();
  for (const client of clients) client.socket.disconnect();
  process.exit(pass ? 0 : 1);
}

main();
