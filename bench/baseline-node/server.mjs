// The benchmark baseline: a chat backend as app developers commonly build one today, a
// socket.io gateway (NestJS style) writing straight to Postgres, in one Node.js process.
// It speaks the same events as Parley's edge for what the benchmark drives. See README.md.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import jwt from 'jsonwebtoken';
import pg from 'pg';
import { Server } from 'socket.io';

const PORT = Number(process.env.PORT ?? 3100);
const HOST = process.env.HOST ?? '127.0.0.1';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/parley_bench';
const JWT_SECRET = process.env.JWT_SECRET;
const PG_POOL_SIZE = Number(process.env.PG_POOL_SIZE ?? 10);
if (!JWT_SECRET) {
  console.error('JWT_SECRET is required');
  process.exit(1);
}

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: PG_POOL_SIZE });
// An idle connection that breaks emits 'error' on the pool; unhandled, it would end the process.
pool.on('error', (err) => console.error('pg pool:', err.message));
await pool.query(await readFile(new URL('./schema.sql', import.meta.url), 'utf8'));

const httpServer = createServer();
const io = new Server(httpServer, { path: '/socket.io', maxHttpBufferSize: 64 * 1024 });
const chat = io.of('/chat');
const statusNs = io.of('/status');

// ---- Errors and payload checks -------------------------------------------------------------

class AppError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const invalid = (message) => new AppError('INVALID_ARGUMENT', message);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isUuid = (value) => typeof value === 'string' && UUID.test(value);
// Lower case, so that socket.io room names match the ids Postgres returns.
function uuidArg(value, field) {
  if (!isUuid(value)) throw invalid(`${field}: expected a UUID`);
  return value.toLowerCase();
}

const MESSAGE_TYPES = ['TEXT', 'IMAGE', 'FILE', 'CALL'];
const STATUSES = ['ONLINE', 'AWAY', 'DO_NOT_DISTURB', 'INVISIBLE'];

// Registers an event handler with the reply shape every event shares:
// { ok: true, data } or { ok: false, error: { code, message } }. The ack may be missing.
function handle(socket, event, fn) {
  socket.on(event, async (payload, ack) => {
    if (typeof payload === 'function') [payload, ack] = [undefined, payload];
    const reply = typeof ack === 'function' ? ack : () => {};
    try {
      if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
        throw invalid('payload: expected an object');
      }
      reply({ ok: true, data: await fn(payload) });
    } catch (err) {
      if (err instanceof AppError) {
        reply({ ok: false, error: { code: err.code, message: err.message } });
      } else {
        console.error(`${event}:`, err);
        reply({ ok: false, error: { code: 'INTERNAL', message: 'internal error' } });
      }
    }
  });
}

// ---- Authentication (both namespaces) ------------------------------------------------------

function authenticate(socket, next) {
  try {
    const claims = jwt.verify(socket.handshake.auth?.token, JWT_SECRET, { algorithms: ['HS256'] });
    if (!isUuid(claims.sub) || typeof claims.name !== 'string') throw new Error('bad claims');
    socket.data.user = { id: claims.sub.toLowerCase(), username: claims.name };
    next();
  } catch {
    next(new Error('UNAUTHENTICATED'));
  }
}
chat.use(authenticate);
statusNs.use(authenticate);

const upsertUser = (user) =>
  pool.query(
    'INSERT INTO baseline.users (id, username) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username',
    [user.id, user.username],
  );

// ---- /chat ---------------------------------------------------------------------------------

const toMessage = (row, sender) => ({
  id: row.id,
  roomId: row.room_id,
  content: row.content,
  messageType: row.message_type,
  sender,
  timestamp: row.created_at.toISOString(),
  clientMsgId: row.client_msg_id,
});

async function createRoom(me, p) {
  const { name = null, isGroup, memberIds, isPublic = false } = p;
  if (name !== null && typeof name !== 'string') throw invalid('name: expected a string');
  if (typeof isGroup !== 'boolean') throw invalid('isGroup: expected a boolean');
  if (typeof isPublic !== 'boolean') throw invalid('isPublic: expected a boolean');
  if (!Array.isArray(memberIds) || memberIds.length > 1000) throw invalid('memberIds: expected an array of at most 1000 UUIDs');
  const others = [...new Set(memberIds.map((id) => uuidArg(id, 'memberIds')))].filter((id) => id !== me.id);
  const members = [me.id, ...others];

  const client = await pool.connect();
  let row;
  try {
    await client.query('BEGIN');
    ({ rows: [row] } = await client.query(
      'INSERT INTO baseline.rooms (name, is_group, is_public) VALUES ($1, $2, $3) RETURNING *',
      [name, isGroup, isPublic],
    ));
    // One multi-row insert: the creator as OWNER, everyone else as MEMBER.
    await client.query(
      'INSERT INTO baseline.room_members (room_id, user_id, role) SELECT $1, m.user_id, m.role FROM unnest($2::uuid[], $3::text[]) AS m(user_id, role)',
      [row.id, members, members.map((id) => (id === me.id ? 'OWNER' : 'MEMBER'))],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }

  const room = { id: row.id, name: row.name, isGroup: row.is_group, isPublic: row.is_public, createdAt: row.created_at.toISOString() };
  const memberRooms = members.map((id) => `user:${id}`);
  chat.in(memberRooms).socketsJoin(`room:${room.id}`); // every connected socket of every member
  chat.to(memberRooms).emit('room-created', { room });
  return { room };
}

// Grows a group: the big-room scenario makes its room of 1 000 with create-room and then
// add-members, 100 users a call, as Parley takes them.
async function addMembers(me, p) {
  const roomId = uuidArg(p.roomId, 'roomId');
  const { userIds } = p;
  if (!Array.isArray(userIds) || userIds.length < 1 || userIds.length > 100) throw invalid('userIds: expected an array of 1 to 100 UUIDs');
  const ids = [...new Set(userIds.map((id) => uuidArg(id, 'userIds')))];
  const { rows: [row] } = await pool.query(
    `SELECT r.* FROM baseline.rooms r JOIN baseline.room_members m ON m.room_id = r.id
     WHERE r.id = $1 AND m.user_id = $2`,
    [roomId, me.id],
  );
  if (row === undefined) throw new AppError('PERMISSION_DENIED', 'not a member of this room');
  const { rows } = await pool.query(
    `INSERT INTO baseline.room_members (room_id, user_id, role)
     SELECT $1, u.id, 'MEMBER' FROM unnest($2::uuid[]) AS u(id)
     ON CONFLICT DO NOTHING RETURNING user_id`,
    [roomId, ids],
  );
  const added = rows.map((r) => r.user_id);
  chat.in(added.map((id) => `user:${id}`)).socketsJoin(`room:${roomId}`);
  for (const id of added) chat.to(`room:${roomId}`).emit('user-joined', { roomId, user: { id } });
  const room = { id: row.id, name: row.name, isGroup: row.is_group, isPublic: row.is_public, createdAt: row.created_at.toISOString() };
  return { room };
}

async function sendMessage(socket, me, p) {
  const { chatRoomId, receiverId, content, messageType = 'TEXT', clientMsgId = null } = p;
  if ((chatRoomId === undefined) === (receiverId === undefined)) throw invalid('exactly one of chatRoomId and receiverId is required');
  if (typeof content !== 'string' || content.length < 1 || content.length > 4000) throw invalid('content: expected 1 to 4000 characters');
  if (!MESSAGE_TYPES.includes(messageType)) throw invalid(`messageType: expected one of ${MESSAGE_TYPES.join(', ')}`);
  if (clientMsgId !== null && (typeof clientMsgId !== 'string' || clientMsgId.length < 1 || clientMsgId.length > 128)) {
    throw invalid('clientMsgId: expected 1 to 128 characters');
  }

  if (chatRoomId !== undefined) {
    const roomId = uuidArg(chatRoomId, 'chatRoomId');
    // The membership check and the insert in one statement: one round trip.
    const { rows } = await pool.query(
      `INSERT INTO baseline.messages (room_id, sender_id, content, message_type, client_msg_id)
       SELECT $1, $2, $3, $4, $5
       WHERE EXISTS (SELECT 1 FROM baseline.room_members WHERE room_id = $1 AND user_id = $2)
       RETURNING *`,
      [roomId, me.id, content, messageType, clientMsgId],
    );
    if (rows.length === 0) throw new AppError('PERMISSION_DENIED', 'not a member of this room');
    const message = toMessage(rows[0], me);
    chat.to(`room:${roomId}`).emit('new-message', message); // the sender's sockets too
    return { message };
  }

  const receiver = uuidArg(receiverId, 'receiverId');
  const { rows } = await pool.query(
    `INSERT INTO baseline.messages (sender_id, receiver_id, content, message_type, client_msg_id)
     VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [me.id, receiver, content, messageType, clientMsgId],
  );
  const message = { ...toMessage(rows[0], me), receiverId: receiver };
  // The receiver's sockets and the sender's other sockets (socket.to leaves this one out).
  socket.to([`user:${receiver}`, `user:${me.id}`]).emit('new-private-message', message);
  return { message };
}

async function getHistory(me, p) {
  const roomId = uuidArg(p.roomId, 'roomId');
  const { limit = 50 } = p;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid('limit: expected an integer from 1 to 100');
  const member = await pool.query('SELECT 1 FROM baseline.room_members WHERE room_id = $1 AND user_id = $2', [roomId, me.id]);
  if (member.rowCount === 0) throw new AppError('PERMISSION_DENIED', 'not a member of this room');
  // One row more than asked tells whether there are more.
  const { rows } = await pool.query(
    `SELECT m.*, u.username FROM baseline.messages m LEFT JOIN baseline.users u ON u.id = m.sender_id
     WHERE m.room_id = $1 ORDER BY m.created_at DESC, m.id DESC LIMIT $2`,
    [roomId, limit + 1],
  );
  const messages = rows.slice(0, limit).map((row) => toMessage(row, { id: row.sender_id, username: row.username }));
  return { messages, hasMore: rows.length > limit };
}

chat.on('connection', (socket) => {
  const me = socket.data.user;
  socket.join(`user:${me.id}`);
  // Handlers are registered before any await, so no early event is dropped.
  handle(socket, 'create-room', (p) => createRoom(me, p));
  handle(socket, 'add-members', (p) => addMembers(me, p));
  handle(socket, 'send-message', (p) => sendMessage(socket, me, p));
  handle(socket, 'get-history', (p) => getHistory(me, p));
  (async () => {
    await upsertUser(me);
    const { rows } = await pool.query('SELECT room_id FROM baseline.room_members WHERE user_id = $1', [me.id]);
    socket.join(rows.map((row) => `room:${row.room_id}`));
  })().catch((err) => {
    console.error('chat connect:', err);
    socket.disconnect(true);
  });
});

// ---- /status -------------------------------------------------------------------------------

const statusSockets = new Map(); // userId -> number of connected /status sockets in this process

// Stores the status and tells the friends (INVISIBLE is shown to them as OFFLINE).
async function setStatus(userId, newStatus) {
  const { rows } = await pool.query(
    'UPDATE baseline.users SET status = $2, last_seen = now() WHERE id = $1 RETURNING last_seen',
    [userId, newStatus],
  );
  const friends = await pool.query('SELECT friend_id FROM baseline.friendships WHERE user_id = $1', [userId]);
  if (friends.rowCount === 0) return;
  const event = {
    userId,
    status: newStatus === 'INVISIBLE' ? 'OFFLINE' : newStatus,
    lastSeen: rows[0]?.last_seen.toISOString() ?? null,
  };
  statusNs.to(friends.rows.map((row) => `user:${row.friend_id}`)).emit('friend-status-changed', event);
}

statusNs.on('connection', (socket) => {
  const me = socket.data.user;
  socket.join(`user:${me.id}`);
  handle(socket, 'heartbeat', async () => ({ serverTime: new Date().toISOString() }));
  handle(socket, 'update-status', async (p) => {
    if (!STATUSES.includes(p.status)) throw invalid(`status: expected one of ${STATUSES.join(', ')}`);
    await setStatus(me.id, p.status);
    return { status: p.status };
  });

  // Counted synchronously, so that the first and the last socket are told apart exactly.
  const count = (statusSockets.get(me.id) ?? 0) + 1;
  statusSockets.set(me.id, count);
  socket.on('disconnect', () => {
    const left = statusSockets.get(me.id) - 1;
    if (left > 0) {
      statusSockets.set(me.id, left);
      return;
    }
    statusSockets.delete(me.id);
    setStatus(me.id, 'OFFLINE').catch((err) => console.error('status disconnect:', err));
  });
  (async () => {
    await upsertUser(me);
    if (count === 1) await setStatus(me.id, 'ONLINE');
  })().catch((err) => console.error('status connect:', err));
});

// ---- Start and stop ------------------------------------------------------------------------

httpServer.listen(PORT, HOST, () => console.log(`baseline listening on ${HOST}:${PORT}`));

async function shutdown() {
  io.close(); // disconnects every socket and closes the http server
  await pool.end();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
