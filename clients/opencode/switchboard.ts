/**
 * Switchboard plugin for OpenCode: reports every OpenCode session to Switchboard as an agent.
 *
 * Install: copy this file to `.opencode/plugins/` (one project) or `~/.config/opencode/plugins/`
 * (every project) and set SWITCHBOARD_URL and SWITCHBOARD_API_KEY (a write-scoped project key);
 * optionally SWITCHBOARD_AGENT_NAME (default: the session's folder name), SWITCHBOARD_STATE_DIR
 * (spool folder; default $XDG_STATE_HOME/switchboard/opencode or ~/.switchboard/opencode) and
 * SWITCHBOARD_TIMEOUT (seconds per request, default 2). See README.md beside this file.
 *
 * Written against @opencode-ai/plugin 1.18 (`Plugin`, `Hooks`) and the event union of
 * @opencode-ai/sdk: session.created/deleted/status/idle/error, message.updated (assistant
 * messages carry tokens {input, output, reasoning, cache: {read, write}}), permission.updated
 * (and permission.asked of the v2 event stream) and permission.replied; plus the hooks
 * chat.message (a new user message: the turn counter goes up), tool.execute.before/after (a tool
 * span, span_id = callID) and dispose (flush before OpenCode exits).
 *
 * Reporting never slows OpenCode down or breaks it: hooks only queue an event and return; a
 * background flush posts batches to `POST /api/v1/events` with a short timeout; whatever cannot
 * be sent is written to a spool file and sent, oldest first, on the next flush (each event has
 * an idempotency key, so a retry after a lost answer never duplicates). Errors are swallowed.
 */
import type { Plugin } from "@opencode-ai/plugin"
import { randomUUID } from "node:crypto"
import { appendFile, mkdir, readdir, readFile, rename, unlink } from "node:fs/promises"
import { homedir } from "node:os"
import { basename, join } from "node:path"

type Json = Record<string, unknown>
type SbEvent = {
  type: string
  agent_external_id: string
  ts: string
  data: Json
  idempotency_key: string
}

const KIND = "opencode"
const MAX_PAYLOAD = 16 * 1024
const BATCH = 500
const SEEN_MESSAGES = 400
const TOKEN_FIELDS: Array<[string, (t: Tokens) => number]> = [
  ["tokens_input", (t) => t.input],
  ["tokens_output", (t) => t.output],
  ["tokens_reasoning", (t) => t.reasoning],
  ["tokens_cache_read", (t) => t.cache.read],
  ["tokens_cache_write", (t) => t.cache.write],
]
type Tokens = { input: number; output: number; reasoning: number; cache: { read: number; write: number } }

function clip(value: unknown): [string, number] {
  let text: string
  try {
    text = typeof value === "string" ? value : JSON.stringify(value ?? null)
  } catch {
    text = String(value)
  }
  return [text.slice(0, MAX_PAYLOAD), Buffer.byteLength(text)]
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0
}

function stateDir(env: NodeJS.ProcessEnv): string {
  if (env.SWITCHBOARD_STATE_DIR) return env.SWITCHBOARD_STATE_DIR
  const xdg = env.XDG_STATE_HOME
  return xdg ? join(xdg, "switchboard", "opencode") : join(homedir(), ".switchboard", "opencode")
}

/** Events waiting to be sent: `<time>-<pid>-<n>.jsonl` files, sent and deleted oldest first. A
 * sender claims a file by renaming it, so two OpenCode processes never send the same file. */
class Spool {
  private seq = 0
  constructor(private dir: string) {}

  async save(events: SbEvent[]): Promise<void> {
    if (!events.length) return
    await mkdir(this.dir, { recursive: true })
    const name = `${Date.now().toString().padStart(15, "0")}-${process.pid}-${String(this.seq++).padStart(6, "0")}.jsonl`
    await appendFile(join(this.dir, name), events.map((e) => JSON.stringify(e) + "\n").join(""))
  }

  async files(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((f) => f.endsWith(".jsonl")).sort()
    } catch {
      return []
    }
  }

  async claim(name: string): Promise<[string, SbEvent[]] | null> {
    const claimed = join(this.dir, `${name}.sending-${process.pid}`)
    try {
      await rename(join(this.dir, name), claimed)
    } catch {
      return null // another process took it
    }
    const events: SbEvent[] = []
    for (const line of (await readFile(claimed, "utf8")).split("\n")) {
      if (!line.trim()) continue
      try {
        events.push(JSON.parse(line))
      } catch {
        // a torn line after a crash: skip it
      }
    }
    return [claimed, events]
  }

  async release(claimed: string, sent: boolean): Promise<void> {
    if (sent) await unlink(claimed).catch(() => {})
    else await rename(claimed, claimed.replace(/\.sending-\d+$/, "")).catch(() => {})
  }
}

/** The reporting core: turns OpenCode hooks and events into Switchboard events. */
class SwitchboardReporter {
  private queue: SbEvent[] = []
  private flushing: Promise<void> | null = null
  private again = false
  private registered = new Set<string>()
  private parents = new Map<string, string>()
  private turns = new Map<string, number>()
  private started = new Map<string, number>()
  private statuses = new Map<string, string>()
  private usage = new Map<string, number[]>()
  private spool: Spool
  private url: string
  private key: string
  private timeoutMs: number

  constructor(
    private env: NodeJS.ProcessEnv,
    private directory: string,
  ) {
    const base = (env.SWITCHBOARD_URL ?? "").trim().replace(/\/+$/, "")
    this.url = base ? (base.endsWith("/api/v1") ? `${base}/events` : `${base}/api/v1/events`) : ""
    this.key = (env.SWITCHBOARD_API_KEY ?? "").trim()
    this.timeoutMs = Math.max(100, (Number(env.SWITCHBOARD_TIMEOUT) || 2) * 1000)
    this.spool = new Spool(stateDir(env))
  }

  get enabled(): boolean {
    return Boolean(this.url)
  }

  // --- events ---------------------------------------------------------------------------
  private emit(type: string, sessionID: string, data: Json): void {
    this.queue.push({
      type,
      agent_external_id: sessionID,
      ts: new Date().toISOString(),
      data,
      idempotency_key: `oc-${randomUUID()}`,
    })
  }

  private name(directory?: string): string {
    const explicit = (this.env.SWITCHBOARD_AGENT_NAME ?? "").trim()
    if (explicit) return explicit.slice(0, 150)
    return (basename((directory || this.directory || "").replace(/\/+$/, "")) || "opencode").slice(0, 150)
  }

  register(sessionID: string, info: { directory?: string; parentID?: string; title?: string } = {}): void {
    if (!sessionID) return
    if (info.parentID) {
      this.parents.set(sessionID, info.parentID)
      this.register(info.parentID)
    }
    if (this.registered.has(sessionID) && !info.title) return
    this.registered.add(sessionID)
    const parent = this.parents.get(sessionID)
    const label = parent ? `${this.name(info.directory)} › ${info.title || "sub-agent"}` : this.name(info.directory)
    this.emit("agent.register", sessionID, {
      name: label.slice(0, 150),
      kind: KIND,
      external_id: sessionID,
      ...(parent ? { parent_external_id: parent } : {}),
      metadata: { directory: info.directory || this.directory, title: info.title ?? "", client: "switchboard-opencode/1" },
    })
  }

  private status(sessionID: string, status: string, reason: string): void {
    this.register(sessionID)
    const value = `${status}|${reason}`
    if (this.statuses.get(sessionID) === value) return
    this.statuses.set(sessionID, value)
    this.emit("agent.status", sessionID, { status, reason: reason.slice(0, 300) })
  }

  userMessage(sessionID: string): void {
    this.register(sessionID)
    const turn = (this.turns.get(sessionID) ?? 0) + 1
    this.turns.set(sessionID, turn)
    this.status(sessionID, "working", `turn ${turn}`)
    this.schedule()
  }

  toolBefore(input: { tool: string; sessionID: string; callID: string }, args: unknown): void {
    this.register(input.sessionID)
    this.started.set(input.callID, Date.now())
    const [text, size] = clip(args)
    this.emit("span.start", input.sessionID, {
      span_id: input.callID,
      phase: "start",
      turn: this.turns.get(input.sessionID) ?? 0,
      tool_name: input.tool,
      input: text,
      input_size: size,
      started_at: new Date().toISOString(),
    })
    this.status(input.sessionID, "working", `turn ${this.turns.get(input.sessionID) ?? 0}`)
    this.schedule()
  }

  toolAfter(
    input: { tool: string; sessionID: string; callID: string; args?: unknown },
    output: { title?: string; output?: string; metadata?: unknown },
  ): void {
    this.register(input.sessionID)
    const began = this.started.get(input.callID)
    this.started.delete(input.callID)
    const [text, size] = clip(output?.output ?? "")
    const meta = (output?.metadata ?? {}) as Json
    const error = typeof meta.error === "string" ? meta.error : ""
    const span: Json = {
      span_id: input.callID,
      phase: "finish",
      turn: this.turns.get(input.sessionID) ?? 0,
      tool_name: input.tool,
      output: text,
      output_size: size,
      outcome: error ? "error" : "ok",
      finished_at: new Date().toISOString(),
    }
    if (began !== undefined) span.latency_ms = Math.max(0, Date.now() - began)
    else [span.input, span.input_size] = clip(input.args)
    if (error) span.error = error.slice(0, 4000)
    this.emit("span.finish", input.sessionID, span)
    this.schedule()
  }

  /** Any event of OpenCode's event stream (`event` hook). */
  onEvent(event: { type: string; properties?: any; data?: any }): void {
    const p = event.properties ?? event.data ?? {}
    switch (event.type) {
      case "session.created":
      case "session.updated": {
        const info = p.info ?? {}
        if (event.type === "session.updated" && this.registered.has(info.id)) break
        this.register(info.id, { directory: info.directory, parentID: info.parentID, title: info.title })
        if (event.type === "session.created") this.status(info.id, "idle", "session started")
        break
      }
      case "session.status": {
        const s = p.status ?? {}
        if (s.type === "busy") this.status(p.sessionID, "working", `turn ${this.turns.get(p.sessionID) ?? 0}`)
        else if (s.type === "retry") this.status(p.sessionID, "working", `retrying: ${s.message ?? ""}`)
        break
      }
      case "session.idle":
        this.status(p.sessionID, this.parents.has(p.sessionID) ? "stopped" : "idle", "turn finished")
        break
      case "session.error": {
        if (!p.sessionID) break
        const err = p.error ?? {}
        const message = String(err.data?.message ?? err.name ?? "session error")
        this.register(p.sessionID)
        this.emit("agent.error", p.sessionID, { message: message.slice(0, 2000), name: err.name ?? "" })
        break
      }
      case "session.deleted":
        this.status(p.info?.id, "stopped", "session deleted")
        break
      case "permission.updated": // v1 event stream
      case "permission.asked": {
        // v2 event stream
        const title = p.title ?? p.permission ?? p.type ?? "permission"
        this.status(p.sessionID, "blocked", `waiting for input: ${title}`)
        this.emit("hook.permission", p.sessionID, { title: String(title).slice(0, 500), id: p.id ?? "" })
        break
      }
      case "permission.replied":
        this.status(p.sessionID, "working", `permission ${p.response ?? p.reply ?? "answered"}`)
        break
      case "message.updated":
        this.tokens(p.info ?? {})
        break
      default:
        return
    }
    this.schedule()
  }

  private tokens(info: any): void {
    if (info.role !== "assistant" || !info.tokens || !info.sessionID || !info.id) return
    const now = TOKEN_FIELDS.map(([, get]) => {
      try {
        return num(get(info.tokens))
      } catch {
        return 0
      }
    })
    const before = this.usage.get(info.id) ?? [0, 0, 0, 0, 0]
    const after = now.map((v, i) => Math.max(v, before[i]))
    this.usage.delete(info.id)
    this.usage.set(info.id, after)
    while (this.usage.size > SEEN_MESSAGES) this.usage.delete(this.usage.keys().next().value as string)
    const delta: Json = {}
    let any = false
    TOKEN_FIELDS.forEach(([name], i) => {
      delta[name] = after[i] - before[i]
      if (after[i] > before[i]) any = true
    })
    if (!any) return
    this.register(info.sessionID)
    this.emit("usage", info.sessionID, { ...delta, model: info.modelID ?? "" })
  }

  // --- sending ----------------------------------------------------------------------------
  /** Flush soon, in the background; hooks never wait for the network. */
  schedule(): void {
    if (!this.enabled) {
      this.queue = []
      return
    }
    if (this.flushing) {
      this.again = true
      return
    }
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = null
    })
  }

  /** Wait for everything queued so far to be sent or spooled. */
  async flush(): Promise<void> {
    this.schedule()
    while (this.flushing) await this.flushing
  }

  private async flushLoop(): Promise<void> {
    do {
      this.again = false
      try {
        await this.flushOnce()
      } catch {
        // never let reporting break OpenCode
      }
    } while (this.again)
  }

  private async flushOnce(): Promise<void> {
    const fresh = this.queue
    this.queue = []
    // Spooled events go first, so the server sees everything in order.
    let down = false
    for (const name of await this.spool.files()) {
      const claimed = await this.spool.claim(name)
      if (!claimed) continue
      const [path, events] = claimed
      const sent = await this.sendAll(events)
      await this.spool.release(path, sent)
      if (!sent) {
        down = true
        break
      }
    }
    if (!fresh.length) return
    if (down || !(await this.sendAll(fresh))) await this.spool.save(fresh)
  }

  private async sendAll(events: SbEvent[]): Promise<boolean> {
    for (let i = 0; i < events.length; i += BATCH) {
      if (!(await this.post(events.slice(i, i + BATCH)))) return false
    }
    return true
  }

  /** True when the server has the batch (or will never take it: 400/413 are dropped). */
  private async post(events: SbEvent[]): Promise<boolean> {
    if (!this.key) return false
    try {
      const response = await fetch(this.url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Authorization: `Bearer ${this.key}`,
          "User-Agent": "switchboard-opencode/1",
        },
        body: JSON.stringify({ events }),
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      await response.text().catch(() => "")
      return response.ok || response.status === 400 || response.status === 413
    } catch {
      return false
    }
  }
}

export const SwitchboardPlugin: Plugin = async ({ directory }) => {
  const reporter = new SwitchboardReporter(process.env, directory)
  if (!reporter.enabled) return {}
  reporter.schedule() // send what an earlier run left in the spool
  const safe =
    <A extends unknown[]>(fn: (...args: A) => void) =>
    async (...args: A): Promise<void> => {
      try {
        fn(...args)
      } catch {
        // reporting must never break OpenCode
      }
    }
  return {
    event: safe(({ event }) => reporter.onEvent(event as { type: string; properties?: any })),
    "chat.message": safe((input) => reporter.userMessage(input.sessionID)),
    "tool.execute.before": safe((input, output) => reporter.toolBefore(input, output.args)),
    "tool.execute.after": safe((input, output) => reporter.toolAfter(input, output)),
    dispose: async () => {
      // Wait at most 3 s for the last events; the timer must not keep OpenCode alive.
      let timer: ReturnType<typeof setTimeout> | undefined
      const limit = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 3000)
      })
      await Promise.race([reporter.flush(), limit]).catch(() => {})
      clearTimeout(timer)
    },
  }
}
