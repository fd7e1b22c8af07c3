// The browser chat (handlers/public/chat.html): the business handler of the [chat] gateway group
// in config.ini (model = gateway). For a Workerman reader, this file is GatewayWorker's
// Events.php: onConnect/onMessage/onClose get a `client` (Events' $client_id plus $_SESSION as
// client.session), and `client.gateway` is Workerman's Gateway class (bindUid, joinGroup,
// sendToGroup, sendToUid, getUidsByGroup...; what asks the gateways returns a Promise).
// The gateway processes hold the browsers' WebSockets; this file runs in the business processes,
// so saving it reloads them and no browser is disconnected.
//
// The page speaks JSON, one object per WebSocket text frame:
//   page -> here  {type:'login', name, room?}   pick a nickname (the uid) and enter a room
//                 {type:'join', room}           change rooms
//                 {type:'say', text}            to everyone in my room
//                 {type:'private', to, text}    to one nickname, wherever they are
//                 {type:'pong'}                 the answer to the gateway's heartbeat
//   here -> page  welcome, room (you are in ROOM, with USERS), rooms (counts), users, joined,
//                 left, say, private, error; and {"type":"ping"} (ping_data, sent by the gateway)
//
// Everything a page sends is hostile until checked: types, lengths, characters, rates.
'use strict';

const ROOMS = ['lobby', 'nodejs', 'workerman', 'random'];
const DEFAULT_ROOM = 'lobby';
const MAX_FRAME = 4096; // characters of one message from a page (max_package_size caps bytes first)
const MAX_NAME = 20; // characters (code points) of a nickname
const MAX_TEXT = 500; // characters of a chat line
const BURST = 20; // messages a client may send at once...
const PER_SECOND = 5; // ...and then this many a second

// Group names are shared by everything in this gateway group: prefix the rooms.
const groupOf = (room) => `room:${room}`;

// State kept in this process, by client id. Loom sends all of one client's events to the same
// business process (chosen by a hash of its id), so this map sees all of a client's messages.
// It is only for rate limits and in-flight work: it is lost on a reload, which is fine for
// both. What must survive is in client.session, the uid and the groups, kept by the gateway.
const local = new Map();

module.exports = {
  // Gateway::sendToCurrentClient in Workerman: client.send(). A JSON value goes out as JSON text.
  async onConnect(client) {
    client.send({ type: 'welcome', rooms: await roomCounts(client.gateway), room: DEFAULT_ROOM, limits: { name: MAX_NAME, text: MAX_TEXT } });
  },

  onMessage(client, message) {
    if (!allowed(client)) return undefined;
    const msg = parse(message);
    if (!msg) return fail(client, 'bad message: a JSON object with a "type" is expected');
    switch (msg.type) {
      case 'pong': return undefined; // the gateway counted it as a sign of life already
      case 'login': return oneAtATime(client, msg, (live) => login(client, msg, live));
      case 'join': return oneAtATime(client, msg, (live) => join(client, msg, live));
      case 'say': return say(client, msg);
      case 'private': return whisper(client, msg);
      default: return fail(client, 'unknown message type');
    }
  },

  // The client is gone: the gateway already dropped its uid and groups; client.session is its
  // last session, so we still know its name and room.
  async onClose(client) {
    local.delete(client.id);
    const { name, room } = client.session;
    if (typeof name !== 'string' || typeof room !== 'string') return;
    const gw = client.gateway;
    gw.sendToGroup(groupOf(room), { type: 'left', name, room, time: Date.now() });
    await Promise.all([sendUsers(gw, room), sendRoomCounts(gw)]);
  },
};

// --- what the page may ask ---

async function login(client, msg, live) {
  if (typeof live.name === 'string') return fail(client, `you are ${live.name} already`);
  const name = cleanName(msg.name);
  if (!name) return fail(client, `a nickname is 1 to ${MAX_NAME} letters, digits, _ . - and single spaces`, 'login');
  const room = msg.room === undefined ? DEFAULT_ROOM : cleanRoom(msg.room);
  if (!room) return fail(client, `no such room; rooms: ${ROOMS.join(', ')}`, 'login');
  const gw = client.gateway;
  // The nickname is the uid, so sendToUid reaches exactly this person: it must be free.
  if (await gw.isUidOnline(name)) return fail(client, `${name} is taken`, 'login');
  gw.bindUid(client.id, name);
  // Two pages may have asked for the same free name at the same moment (on two business
  // processes): after binding, whoever finds the name held twice backs off.
  if ((await gw.getClientIdsByUid(name)).length > 1) {
    gw.unbindUid(client.id, name);
    return fail(client, `${name} is taken`, 'login');
  }
  client.session.name = name;
  return enter(client, null, room);
}

async function join(client, msg, live) {
  if (typeof live.name !== 'string') return fail(client, 'pick a nickname first');
  const room = cleanRoom(msg.room);
  if (!room) return fail(client, `no such room; rooms: ${ROOMS.join(', ')}`);
  if (room === live.room) return fail(client, `you are in ${room} already`);
  return enter(client, typeof live.room === 'string' ? live.room : null, room);
}

/** Moves a logged-in client from one room (or none) to another, and tells everyone concerned. */
async function enter(client, from, to) {
  const gw = client.gateway;
  const { name } = client.session;
  if (from) {
    gw.leaveGroup(client.id, groupOf(from));
    gw.sendToGroup(groupOf(from), { type: 'left', name, room: from, to, time: Date.now() });
  }
  gw.joinGroup(client.id, groupOf(to));
  client.session.room = to;
  gw.sendToGroup(groupOf(to), { type: 'joined', name, room: to, time: Date.now() }, [client.id]);
  // joinGroup and this question travel the same ordered link to the client's gateway: the
  // answer includes the client itself.
  const [users] = await Promise.all([usersOf(gw, to), from && sendUsers(gw, from), sendRoomCounts(gw)]);
  gw.sendToGroup(groupOf(to), { type: 'users', room: to, users }, [client.id]);
  // The client hears it is in the room last: client.session (room) is stored on the gateway
  // when this callback settles, in the same turn, so anything the page sends after this
  // answer already sees the new room.
  client.send({ type: 'room', name, room: to, users });
}

function say(client, msg) {
  const { name, room } = client.session;
  if (typeof name !== 'string' || typeof room !== 'string') return fail(client, 'pick a nickname first');
  const text = cleanText(msg.text);
  if (!text) return fail(client, `a message is 1 to ${MAX_TEXT} characters`);
  client.gateway.sendToGroup(groupOf(room), { type: 'say', from: name, room, text, time: Date.now() });
  return undefined;
}

async function whisper(client, msg) {
  const { name } = client.session;
  if (typeof name !== 'string') return fail(client, 'pick a nickname first');
  const to = cleanName(msg.to);
  if (!to) return fail(client, 'private to whom?');
  if (to === name) return fail(client, 'that is you');
  const text = cleanText(msg.text);
  if (!text) return fail(client, `a message is 1 to ${MAX_TEXT} characters`);
  const gw = client.gateway;
  if (!(await gw.isUidOnline(to))) return fail(client, `${to} is not online`);
  const line = { type: 'private', from: name, to, text, time: Date.now() };
  gw.sendToUid(to, line);
  client.send(line); // the sender sees it in their own window too
  return undefined;
}

// --- the gateway's answers ---

async function usersOf(gw, room) {
  return (await gw.getUidsByGroup(groupOf(room))).sort((a, b) => a.localeCompare(b));
}

async function sendUsers(gw, room) {
  gw.sendToGroup(groupOf(room), { type: 'users', room, users: await usersOf(gw, room) });
}

async function roomCounts(gw) {
  const counts = await Promise.all(ROOMS.map((room) => gw.getClientCountByGroup(groupOf(room))));
  return ROOMS.map((name, i) => ({ name, count: counts[i] }));
}

async function sendRoomCounts(gw) {
  gw.sendToAll({ type: 'rooms', rooms: await roomCounts(gw) });
}

// --- checks ---

/**
 * login and join change the session, and a page may send them back to back. The session a
 * callback gets is the one the gateway held when the message arrived, so an earlier login or
 * join still being handled (they wait for the gateways' answers) is not in it. Here they run
 * one at a time per client, each on the session as the gateway holds it now (getSession).
 */
async function oneAtATime(client, msg, fn) {
  const me = state(client);
  if (me.busy) return fail(client, 'one moment: still busy with your last request', msg.type === 'login' ? 'login' : undefined);
  me.busy = true;
  try {
    const live = await client.gateway.getSession(client.id);
    if (!live) return undefined; // gone meanwhile
    client.session = live;
    return await fn(live);
  } finally {
    me.busy = false;
  }
}

function state(client) {
  let me = local.get(client.id);
  if (!me) local.set(client.id, (me = { tokens: BURST, at: Date.now(), warned: false, busy: false }));
  return me;
}

/** A token bucket per client: BURST messages, then PER_SECOND; past that, dropped (and said once). */
function allowed(client) {
  const me = state(client);
  const now = Date.now();
  me.tokens = Math.min(BURST, me.tokens + ((now - me.at) / 1000) * PER_SECOND);
  me.at = now;
  if (me.tokens >= 1) {
    me.tokens -= 1;
    me.warned = false;
    return true;
  }
  if (!me.warned) {
    me.warned = true;
    fail(client, 'slow down: messages are being dropped');
  }
  return false;
}

/** A text frame holding one JSON object with a string "type"; anything else is null. */
function parse(message) {
  if (typeof message !== 'string' || message.length > MAX_FRAME) return null; // binary frames too
  let msg;
  try {
    msg = JSON.parse(message);
  } catch {
    return null;
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || typeof msg.type !== 'string') return null;
  return msg;
}

// Letters (with their accents), digits, _ . - and single spaces inside; no control, format or
// direction-changing characters, so one name cannot pass for another on screen.
const NAME = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}_.-]*(?: [\p{L}\p{M}\p{N}_.-]+)*$/u;

function cleanName(v) {
  if (typeof v !== 'string' || v.length > MAX_NAME * 4) return null;
  const name = v.normalize('NFC').trim();
  const length = [...name].length;
  return length >= 1 && length <= MAX_NAME && NAME.test(name) ? name : null;
}

function cleanRoom(v) {
  return typeof v === 'string' && ROOMS.includes(v) ? v : null;
}

// Control characters become spaces; bidirectional overrides and isolates go (they would turn
// the rest of a line around on everyone's screen). The page shows text as text, never as HTML.
const CONTROL = /[\p{Cc}\u2028\u2029]/gu;
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu;

function cleanText(v) {
  if (typeof v !== 'string' || v.length > MAX_TEXT * 4) return null;
  const text = v.normalize('NFC').replace(BIDI, '').replace(CONTROL, ' ').trim();
  return text.length >= 1 && text.length <= MAX_TEXT ? text : null;
}

/** Tells the page what was wrong; `about` names the form to open again (login). */
function fail(client, text, about) {
  client.send({ type: 'error', text, about });
  return undefined;
}
