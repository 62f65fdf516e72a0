// A real yjs + y-websocket client for the Python tests (driven by tests/nodeclient.py).
//
//   node sheet_client.mjs --url ws://127.0.0.1:8000/ws/sheet --room NAME [--param k=v ...]
//
// Protocol: one JSON command per line on stdin ({"id": 1, "cmd": "rows", ...}); exactly one
// JSON response per command on stdout ({"id": 1, ...} or {"id": 1, "error": "..."}).
// Unsolicited lines carry "event" instead of "id": ready, status, sync, close, closed.
// BigInt values travel as {"$bigint": "123"} in both directions.
// The document layout is docs/sheet-document.md (version 1): meta, rows, order, refusals.
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    room: { type: 'string' },
    param: { type: 'string', multiple: true, default: [] }
  }
})
if (!args.url || !args.room) {
  process.stderr.write('usage: sheet_client.mjs --url WS_URL --room NAME [--param k=v ...]\n')
  process.exit(2)
}
const params = {}
for (const p of args.param) {
  const eq = p.indexOf('=')
  if (eq < 0) throw new Error(`--param needs k=v, got ${p}`)
  params[p.slice(0, eq)] = p.slice(eq + 1)
}

const send = (obj) =>
  process.stdout.write(
    JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v)) + '\n'
  )
const parse = (line) =>
  JSON.parse(line, (_k, v) =>
    v !== null && typeof v === 'object' && typeof v.$bigint === 'string' && Object.keys(v).length === 1
      ? BigInt(v.$bigint)
      : v
  )

// Counts incoming frames by y-websocket message type (the first varint of each binary message)
// and reports every close of every socket, including ones the provider closed itself.
const MESSAGE_TYPES = { 0: 'sync', 1: 'awareness', 2: 'auth', 3: 'query_awareness' }
const frames = { sync: 0, awareness: 0, auth: 0, query_awareness: 0, other: 0 }
const readVarUint = (bytes) => {
  let num = 0
  for (let i = 0, mult = 1; i < bytes.length; i++, mult *= 128) {
    num += (bytes[i] & 0x7f) * mult
    if (bytes[i] < 0x80) return num
  }
  return -1
}
class CountingWebSocket extends WebSocket {
  constructor (...a) {
    super(...a)
    this.addEventListener('message', ({ data }) => {
      const bytes = typeof data === 'string' ? new Uint8Array() : new Uint8Array(data)
      frames[MESSAGE_TYPES[readVarUint(bytes)] ?? 'other']++
    })
    this.addEventListener('close', ({ code, reason, wasClean }) =>
      send({ event: 'close', code, reason: String(reason), wasClean })
    )
  }
}

const doc = new Y.Doc()
const meta = doc.getMap('meta')
const rows = doc.getMap('rows')
const order = doc.getArray('order')
const provider = new WebsocketProvider(args.url, args.room, doc, {
  WebSocketPolyfill: CountingWebSocket,
  disableBc: true,
  params,
  connect: false // connected at the end, once the listeners are attached
})
const awareness = provider.awareness
provider.on('status', ({ status }) => send({ event: 'status', status }))
provider.on('sync', (synced) => send({ event: 'sync', synced }))
// y-websocket 3.x: emitted when the server closed with a code in 4400-4499 and the
// provider stopped reconnecting (a 'connect' command resumes).
provider.on('closed', ({ code, reason }) => send({ event: 'closed', code, reason: String(reason) }))

const waitSynced = (timeoutMs) =>
  new Promise((resolve, reject) => {
    if (provider.synced) return resolve({ synced: true })
    const onSync = (synced) => {
      if (!synced) return
      clearTimeout(timer)
      provider.off('sync', onSync)
      resolve({ synced: true })
    }
    const timer = setTimeout(() => {
      provider.off('sync', onSync)
      reject(new Error(`not synced after ${timeoutMs} ms`))
    }, timeoutMs)
    provider.on('sync', onSync)
  })

const rowList = () => {
  const seen = new Set()
  const out = []
  for (const key of order.toArray()) {
    const row = rows.get(key)
    if (seen.has(key) || !(row instanceof Y.Map)) continue
    seen.add(key)
    out.push({ key, values: row.toJSON() })
  }
  return out
}

const getRow = (key) => {
  const row = rows.get(key)
  if (!(row instanceof Y.Map)) throw new Error(`no row ${JSON.stringify(key)}`)
  return row
}

const commands = {
  wait_synced: ({ timeout_ms: timeoutMs = 10000 }) => waitSynced(timeoutMs),
  rows: () => ({ rows: rowList() }),
  get_cell: ({ row, column }) => {
    const r = rows.get(row)
    const exists = r instanceof Y.Map && r.has(column)
    return { exists, value: exists ? r.get(column) : null }
  },
  set_cell: ({ row, column, value }) => {
    doc.transact(() => getRow(row).set(column, value))
    return {}
  },
  add_row: ({ key, values = {} }) => {
    doc.transact(() => {
      const row = new Y.Map()
      for (const [k, v] of Object.entries(values)) row.set(k, v)
      rows.set(key, row)
      order.push([key])
    })
    return {}
  },
  delete_row: ({ key }) => {
    doc.transact(() => {
      rows.delete(key)
      const keys = order.toArray()
      for (let i = keys.length - 1; i >= 0; i--) if (keys[i] === key) order.delete(i, 1)
    })
    return {}
  },
  meta: () => ({ meta: meta.toJSON() }),
  state_vector: () => {
    const sv = Y.encodeStateVector(doc)
    const clients = Object.fromEntries(Y.decodeStateVector(sv))
    return { state_vector: Buffer.from(sv).toString('base64'), clients }
  },
  disconnect: () => {
    provider.disconnect()
    return {}
  },
  connect: () => {
    provider.connect()
    return {}
  },
  set_awareness: ({ state }) => {
    awareness.setLocalState(state)
    return {}
  },
  awareness: () => ({ states: Object.fromEntries(awareness.getStates()) }),
  awareness_frames: () => ({ count: frames.awareness }),
  frames: () => ({ ...frames }),
  status: () => ({
    connected: provider.wsconnected,
    synced: provider.synced,
    should_connect: provider.shouldConnect,
    client_id: doc.clientID
  }),
  close: () => {
    setImmediate(shutdown) // after this response is written
    return {}
  }
}

let closing = false
const shutdown = () => {
  if (closing) return
  closing = true
  provider.destroy()
  doc.destroy()
  process.stdout.write('', () => process.exit(0)) // exit once stdout is flushed
}

const handle = async (line) => {
  let msg
  try {
    msg = parse(line)
  } catch (e) {
    return send({ id: null, error: `bad JSON: ${e.message}` })
  }
  const { id, cmd } = msg
  try {
    const fn = commands[cmd]
    if (!fn) throw new Error(`unknown command ${JSON.stringify(cmd)}`)
    send({ id, ...(await fn(msg)) })
  } catch (e) {
    send({ id, error: e?.message ?? String(e) })
  }
}

const rl = createInterface({ input: process.stdin })
rl.on('line', (line) => {
  if (line.trim()) handle(line)
})
rl.on('close', shutdown) // parent went away: do not linger
send({ event: 'ready', client_id: doc.clientID, url: provider.url })
provider.connect()
