/**
 * Switchboard plugin for OpenCode: reports every OpenCode session to Switchboard as an agent, and
 * carries out what the control room asks (stop, sleep, a new task).
 *
 * Install: copy this file to `.opencode/plugins/` (one project) or `~/.config/opencode/plugins/`
 * (every project) and set SWITCHBOARD_URL and SWITCHBOARD_API_KEY (a write-scoped project key);
 * optionally SWITCHBOARD_AGENT_NAME (default: the session's folder name), SWITCHBOARD_STATE_DIR
 * (spool folder; default $XDG_STATE_HOME/switchboard/opencode or ~/.switchboard/opencode),
 * SWITCHBOARD_TIMEOUT (seconds per request, default 2) and SWITCHBOARD_POLL (seconds between
 * polls for commands while a session exists, default 15; 0: never). See README.md beside this file.
 *
 * Written against @opencode-ai/plugin 1.18 (`Plugin`, `Hooks`) and the events OpenCode 1.18.33
 * really sends (tests/clients/samples/opencode-*.json were captured from the binary):
 * session.created/status/idle/error/deleted; message.updated (an assistant message carries its
 * absolute tokens {input, output, reasoning, cache: {read, write}} and `cost` in USD, re-sent as
 * it grows); message.part.updated (a tool part's state: running, then completed or error, with
 * time.start/end; a tool that throws or is refused never reaches tool.execute.after, only this);
 * permission.asked/replied (v1: permission.updated, `response`), question.asked/replied/rejected;
 * and the hooks chat.message (the turn counter goes up), tool.execute.before/after (a span,
 * span_id = callID) and dispose. Esc (or an abort) is session.error `MessageAbortedError`, then
 * idle, then, for a bash tool, a late tool.execute.after: the span stays cancelled.
 *
 * Reporting never slows OpenCode down or breaks it: hooks only queue an event and return; a
 * background flush posts batches to `POST /api/v1/events` with a short timeout; whatever cannot
 * be sent is written to a spool file and sent, oldest first, on the next flush (each event has
 * an idempotency key, so a retry after a lost answer never duplicates). Errors are swallowed.
 * Each answer carries the commands waiting for the sessions in the batch; they are carried out
 * through the SDK client OpenCode hands the plugin (session.abort, session.promptAsync) and
 * acked with a `command.ack` event.
 */
import type { Plugin, PluginInput } from "@opencode-ai/plugin"
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
type Command = { id: number; action: string; data?: Json; agent_external_id?: string }
type Client = PluginInput["client"]

const KIND = "opencode"
const APPROVAL_POLL_MS = 300
const MAX_PAYLOAD = 16 * 1024
const BATCH = 500
const REMEMBERED = 400
const ABORTED = "MessageAbortedError"
const TOKEN_FIELDS: Array<[string, (t: Tokens) => number]> = [
  ["tokens_input", (t) => t.input],
  ["tokens_output", (t) => t.output],
  ["tokens_reasoning", (t) => t.reasoning],
  ["tokens_cache_read", (t) => t.cache.read],
  ["tokens_cache_write", (t) => t.cache.write],
]
type Tokens = { input: number; output: number; reasoning: number; cache: { read: number; write: number } }

/** What the plugin knows of one OpenCode session. */
type Session = {
  turn: number
  busy: boolean
  interrupted: boolean // Esc or an abort ended this turn
  hold: string // "stop" or "sleep" from the control room: no task starts, no status undoes it
  taskId: unknown // the Switchboard task this turn works on
  lastText: string // the newest finished text of an assistant message, for task.completed
  open: Map<string, { tool: string; began: number }> // tool spans started, not finished
}

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

function iso(ms: unknown): string {
  return new Date(typeof ms === "number" && ms > 0 ? ms : Date.now()).toISOString()
}

/** A Set that forgets its oldest members past REMEMBERED. */
class Recent<T> extends Set<T> {
  add(value: T): this {
    super.add(value)
    while (this.size > REMEMBERED) this.delete(this.values().next().value as T)
    return this
  }
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

/** The reporting core: turns OpenCode hooks and events into Switchboard events, and commands
 * from Switchboard into SDK calls. */
class SwitchboardReporter {
  private queue: SbEvent[] = []
  private flushing: Promise<void> | null = null
  private again = false
  private registered = new Set<string>()
  private parents = new Map<string, string>()
  private sessions = new Map<string, Session>()
  private statuses = new Map<string, string>()
  private finished = new Recent<string>() // span ids closed: a late report must not reopen them
  private denied = new Recent<string>() // call ids whose permission prompt was rejected
  private asks = new Map<string, string>() // permission request id -> call id
  private usage = new Map<string, string>() // message id -> the figures last sent
  private handled = new Recent<number>() // command ids carried out, ack on its way
  private approvals = new Map<string, boolean>() // permission request id -> still unanswered here
  private ended = new Set<string>()
  private spool: Spool
  private url: string
  private key: string
  private timeoutMs: number
  private pollMs: number
  private approvalMs: number
  private root: string
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(
    private env: NodeJS.ProcessEnv,
    private directory: string,
    private client: Client | undefined,
  ) {
    const base = (env.SWITCHBOARD_URL ?? "").trim().replace(/\/+$/, "")
    this.root = base ? (base.endsWith("/api/v1") ? base : `${base}/api/v1`) : ""
    this.url = this.root ? `${this.root}/events` : ""
    this.key = (env.SWITCHBOARD_API_KEY ?? "").trim()
    this.timeoutMs = Math.max(100, (Number(env.SWITCHBOARD_TIMEOUT) || 2) * 1000)
    const poll = Number(env.SWITCHBOARD_POLL ?? 15)
    this.pollMs = Number.isFinite(poll) && poll > 0 ? Math.max(200, poll * 1000) : 0
    const wait = Number(env.SWITCHBOARD_APPROVAL_WAIT ?? 60)
    this.approvalMs = Number.isFinite(wait) && wait > 0 ? Math.min(wait, 3600) * 1000 : 0
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

  label(): string {
    return (this.env.SWITCHBOARD_AGENT_LABEL ?? "").trim().slice(0, 60)
  }

  private name(directory?: string): string {
    const explicit = (this.env.SWITCHBOARD_AGENT_NAME ?? "").trim()
    if (explicit) return explicit.slice(0, 150)
    return (basename((directory || this.directory || "").replace(/\/+$/, "")) || "opencode").slice(0, 150)
  }

  private session(sessionID: string): Session {
    let s = this.sessions.get(sessionID)
    if (!s) {
      s = { turn: 0, busy: false, interrupted: false, hold: "", taskId: null, lastText: "", open: new Map() }
      this.sessions.set(sessionID, s)
    }
    return s
  }

  register(sessionID: string, info: { directory?: string; parentID?: string; title?: string } = {}): void {
    if (!sessionID) return
    if (info.parentID) {
      this.parents.set(sessionID, info.parentID)
      this.register(info.parentID)
    }
    if (this.registered.has(sessionID) && !info.title) return
    this.registered.add(sessionID)
    this.ended.delete(sessionID)
    const parent = this.parents.get(sessionID)
    const label = parent ? `${this.name(info.directory)} › ${info.title || "sub-agent"}` : this.name(info.directory)
    this.emit("agent.register", sessionID, {
      name: label.slice(0, 150),
      kind: KIND,
      external_id: sessionID,
      ...(parent ? { parent_external_id: parent } : {}),
      metadata: { directory: info.directory || this.directory, title: info.title ?? "", client: "switchboard-opencode/2" },
      ...(this.label() ? { label: this.label() } : {}),
    })
    this.startPolling()
  }

  private status(sessionID: string, status: string, reason: string): void {
    if (!sessionID) return
    this.register(sessionID)
    if (this.session(sessionID).hold) return // the control room's stop or sleep stands
    const value = `${status}|${reason}`
    if (this.statuses.get(sessionID) === value) return
    this.statuses.set(sessionID, value)
    this.emit("agent.status", sessionID, { status, reason: reason.slice(0, 300) })
  }

  private working(sessionID: string): void {
    const s = this.session(sessionID)
    s.busy = true
    this.status(sessionID, "working", s.taskId ? `task ${s.taskId}, turn ${s.turn}` : `turn ${s.turn}`)
  }

  userMessage(sessionID: string): void {
    this.register(sessionID)
    const s = this.session(sessionID)
    s.turn += 1
    s.interrupted = false
    s.lastText = ""
    if (!s.taskId) s.hold = "" // someone typed into the session: it works again
    this.working(sessionID)
    this.schedule()
  }

  toolBefore(input: { tool: string; sessionID: string; callID: string }, args: unknown): void {
    this.register(input.sessionID)
    if (this.finished.has(input.callID)) return
    const s = this.session(input.sessionID)
    s.open.set(input.callID, { tool: input.tool, began: Date.now() })
    const [text, size] = clip(args)
    this.emit("span.start", input.sessionID, {
      span_id: input.callID,
      phase: "start",
      turn: s.turn,
      tool_name: input.tool,
      input: text,
      input_size: size,
      started_at: new Date().toISOString(),
    })
    this.working(input.sessionID)
    this.schedule()
  }

  toolAfter(
    input: { tool: string; sessionID: string; callID: string; args?: unknown },
    output: { title?: string; output?: string; metadata?: unknown },
  ): void {
    const meta = (output?.metadata ?? {}) as Json
    const error = typeof meta.error === "string" ? meta.error : ""
    this.finishSpan(input.sessionID, input.callID, {
      tool: input.tool,
      outcome: error ? "error" : "ok",
      output: output?.output ?? "",
      error,
      args: input.args,
    })
    this.schedule()
  }

  /** Close a span once: the first report of its end wins (an aborted bash still reports
   * "completed" afterwards; that must not turn a cancelled span into an ok one). */
  private finishSpan(
    sessionID: string,
    callID: string,
    how: { tool?: string; outcome: string; output?: unknown; error?: string; args?: unknown; start?: unknown; end?: unknown },
  ): void {
    if (!sessionID || !callID || this.finished.has(callID)) return
    this.register(sessionID)
    this.finished.add(callID)
    const s = this.session(sessionID)
    const open = s.open.get(callID)
    s.open.delete(callID)
    const span: Json = {
      span_id: callID,
      phase: "finish",
      turn: s.turn,
      tool_name: how.tool || open?.tool || "",
      outcome: how.outcome,
      finished_at: iso(how.end),
    }
    if (how.output !== undefined) [span.output, span.output_size] = clip(how.output)
    // OpenCode's own clock for the tool where we have it, else ours from tool.execute.before.
    const start = typeof how.start === "number" ? how.start : open?.began
    const end = typeof how.end === "number" ? how.end : Date.now()
    if (start !== undefined) {
      span.latency_ms = Math.max(0, Math.round(end - start))
      span.started_at = iso(start)
    }
    if (!open && how.args !== undefined) [span.input, span.input_size] = clip(how.args)
    if (how.error) span.error = how.error.slice(0, 4000)
    this.emit("span.finish", sessionID, span)
  }

  /** The part of a tool call: its state says how it ended even when the hooks do not. */
  private toolPart(part: any): void {
    const state = part.state ?? {}
    const sessionID = part.sessionID
    const callID = part.callID
    if (!sessionID || !callID) return
    const open = this.session(sessionID).open.get(callID)
    if (state.status === "running" && open && typeof state.time?.start === "number") {
      open.began = state.time.start
      return
    }
    if (state.status !== "error" && state.status !== "completed") return
    const error = state.status === "error" ? String(state.error ?? "error") : ""
    const refused = this.denied.has(callID) || /rejected permission|permission.*(denied|rejected)/i.test(error)
    this.finishSpan(sessionID, callID, {
      tool: part.tool,
      outcome: state.status === "completed" ? "ok" : refused ? "denied" : "error",
      output: state.status === "completed" ? (state.output ?? "") : undefined,
      error,
      args: state.input,
      start: state.time?.start,
      end: state.time?.end,
    })
  }

  /** Esc in the TUI, or an abort from us: not an error; what was running is cancelled. */
  private interrupted(sessionID: string): void {
    const s = this.session(sessionID)
    if (s.interrupted) return
    s.interrupted = true
    s.busy = false
    for (const callID of [...s.open.keys()]) this.finishSpan(sessionID, callID, { outcome: "cancelled" })
    this.status(sessionID, "idle", "interrupted")
  }

  private idle(sessionID: string): void {
    if (!sessionID) return
    const s = this.session(sessionID)
    s.busy = false
    // A tool still open when the turn is over was abandoned.
    for (const callID of [...s.open.keys()]) this.finishSpan(sessionID, callID, { outcome: "cancelled" })
    if (s.taskId && !s.interrupted && !s.hold) {
      this.emit("task.completed", sessionID, { task_id: s.taskId, result: s.lastText.slice(0, 4000) })
    }
    if (!s.interrupted) s.taskId = null // an interrupted task goes on with the next prompt
    if (s.interrupted) return // "interrupted" says more than "turn finished"
    this.status(sessionID, this.parents.has(sessionID) ? "stopped" : "idle", "turn finished")
  }

  private blocked(sessionID: string, what: string, data: Json): void {
    if (!sessionID) return
    this.status(sessionID, "blocked", `waiting for ${what}`)
    this.emit("hook.permission", sessionID, data)
  }

  /** Any event of OpenCode's event stream (`event` hook). */
  onEvent(event: { type: string; properties?: any; data?: any }): void {
    const p = event.properties ?? event.data ?? {}
    switch (event.type) {
      case "session.created":
      case "session.updated": {
        const info = p.info ?? {}
        if (event.type === "session.updated" && this.registered.has(info.id)) return
        this.register(info.id, { directory: info.directory, parentID: info.parentID, title: info.title })
        if (event.type === "session.created") this.status(info.id, "idle", "session started")
        break
      }
      case "session.status": {
        const s = p.status ?? {}
        if (!p.sessionID) return
        if (s.type === "busy") this.working(p.sessionID)
        else if (s.type === "retry") this.status(p.sessionID, "working", `retrying: ${s.message ?? ""}`)
        else return
        break
      }
      case "session.idle":
        this.idle(p.sessionID)
        break
      case "session.error": {
        if (!p.sessionID) return
        const err = p.error ?? {}
        if (err.name === ABORTED) {
          this.interrupted(p.sessionID)
          break
        }
        const message = String(err.data?.message ?? err.name ?? "session error")
        this.register(p.sessionID)
        this.emit("agent.error", p.sessionID, { message: message.slice(0, 2000), name: err.name ?? "" })
        break
      }
      case "session.deleted":
        this.status(p.info?.id, "stopped", "session deleted")
        if (p.info?.id) this.ended.add(p.info.id)
        break
      case "permission.updated": // v1 event stream
      case "permission.asked": {
        // v2: {id, permission, patterns, metadata, tool: {messageID, callID}}
        const callID = p.tool?.callID ?? p.callID
        if (p.id && callID) this.asks.set(p.id, callID)
        const what = String(p.permission ?? p.type ?? "permission")
        const detail = String(p.title ?? (Array.isArray(p.patterns) ? p.patterns.join(", ") : p.pattern ?? ""))
        this.blocked(p.sessionID, `permission: ${what}${detail ? ` (${detail})` : ""}`, {
          title: `${what}${detail ? `: ${detail}` : ""}`.slice(0, 500),
          id: p.id ?? "",
          call_id: callID ?? "",
        })
        void this.remoteApproval(p, what, detail)
        break
      }
      case "permission.replied": {
        const reply = String(p.reply ?? p.response ?? "answered")
        const callID = this.asks.get(p.requestID ?? p.permissionID)
        this.asks.delete(p.requestID ?? p.permissionID)
        if (this.approvals.has(p.requestID ?? p.permissionID)) this.approvals.set(p.requestID ?? p.permissionID, false)
        if (reply === "reject" && callID) this.denied.add(callID)
        if (!p.sessionID) return
        this.status(p.sessionID, "working", `permission ${reply === "reject" ? "rejected" : `granted (${reply})`}`)
        break
      }
      case "question.asked": {
        const first = Array.isArray(p.questions) ? p.questions[0] ?? {} : {}
        const text = String(first.question ?? first.header ?? "a question")
        this.blocked(p.sessionID, `an answer: ${text}`, { title: `question: ${text}`.slice(0, 500), id: p.id ?? "" })
        break
      }
      case "question.replied":
      case "question.rejected":
        if (!p.sessionID) return
        this.status(p.sessionID, "working", event.type === "question.replied" ? "question answered" : "question dismissed")
        break
      case "message.part.updated": {
        const part = p.part ?? {}
        if (part.type === "tool") this.toolPart(part)
        else if (part.type === "text" && part.sessionID && part.time?.end && !part.synthetic) {
          this.session(part.sessionID).lastText = String(part.text ?? "")
          return
        } else return
        break
      }
      case "message.updated": {
        const info = p.info ?? {}
        if (info.role !== "assistant" || !info.sessionID) return
        if (info.error?.name === ABORTED) this.interrupted(info.sessionID)
        this.tokens(info)
        break
      }
      default:
        return
    }
    this.schedule()
  }

  /** Absolute figures per assistant message: the server keeps the largest per key, so a message
   * re-sent while it streams is counted once. OpenCode's own `cost` goes with it. */
  private tokens(info: any): void {
    if (!info.tokens || !info.id) return
    const data: Json = { key: String(info.id).slice(0, 200), turn: this.session(info.sessionID).turn, model: info.modelID ?? "" }
    let any = false
    for (const [name, get] of TOKEN_FIELDS) {
      let value = 0
      try {
        value = num(get(info.tokens))
      } catch {
        // a figure missing from this OpenCode version
      }
      data[name] = value
      if (value) any = true
    }
    if (typeof info.cost === "number" && Number.isFinite(info.cost) && info.cost > 0) {
      data.cost_usd = info.cost
      any = true
    }
    if (!any) return
    const figures = JSON.stringify(data)
    if (this.usage.get(info.id) === figures) return
    this.usage.delete(info.id)
    this.usage.set(info.id, figures)
    while (this.usage.size > REMEMBERED) this.usage.delete(this.usage.keys().next().value as string)
    this.register(info.sessionID)
    this.emit("usage", info.sessionID, data)
  }

  // --- remote approval ------------------------------------------------------------------
  /** A permission prompt, answered from the control room: filed with Switchboard (the agent
   * page, the alert and admins' pushes show Allow / Deny), polled until someone decides, then
   * answered through the SDK as if typed. Answered here first, or no decision within
   * SWITCHBOARD_APPROVAL_WAIT seconds (default 60, 0 = off): OpenCode's own prompt decides and
   * the request is marked expired. */
  private async remoteApproval(p: any, what: string, detail: string): Promise<void> {
    const id = String(p.id ?? "")
    const sessionID = String(p.sessionID ?? "")
    if (!this.approvalMs || !this.client || !id || !sessionID || this.approvals.has(id)) return
    this.approvals.set(id, true)
    try {
      await this.flush() // the agent and its "blocked" first
      const [status, filed] = await this.call("POST", "/approvals", {
        agent_external_id: sessionID,
        key: `perm-${id}`.slice(0, 200),
        tool_name: what.slice(0, 200),
        summary: (detail || what).slice(0, 500),
        input: clip({ patterns: p.patterns ?? [], metadata: p.metadata ?? {} })[0],
        wait_seconds: Math.max(1, Math.round(this.approvalMs / 1000)),
      })
      if ((status !== 200 && status !== 201) || typeof filed?.id !== "number") return
      let decision = String(filed.status ?? "pending")
      const deadline = Date.now() + this.approvalMs
      while (decision === "pending" && Date.now() < deadline && this.approvals.get(id)) {
        await new Promise((resolve) => setTimeout(resolve, APPROVAL_POLL_MS))
        const [code, answer] = await this.call("GET", `/approvals/${filed.id}`)
        if (code === 200 && typeof answer?.status === "string") decision = answer.status
      }
      if (this.approvals.get(id) && (decision === "allowed" || decision === "denied")) {
        await this.client.postSessionIdPermissionsPermissionId({
          path: { id: sessionID, permissionID: id },
          body: { response: decision === "allowed" ? "once" : "reject" },
        })
      } else if (decision === "pending") {
        await this.call("POST", `/approvals/${filed.id}/expire`, {}) // the local prompt decides
      }
    } catch {
      // remote approval is a convenience: the local prompt still works
    } finally {
      this.approvals.delete(id)
    }
  }

  /** One JSON request to the API: [HTTP status, parsed answer]; [0, null] when unreachable. */
  private async call(method: string, path: string, body?: Json): Promise<[number, any]> {
    if (!this.root || !this.key) return [0, null]
    try {
      const response = await fetch(this.root + path, {
        method,
        headers: {
          "Content-Type": "application/json",
          Authorization: `Bearer ${this.key}`,
          "User-Agent": "switchboard-opencode/2",
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      const text = await response.text().catch(() => "")
      try {
        return [response.status, text ? JSON.parse(text) : null]
      } catch {
        return [response.status, null]
      }
    } catch {
      return [0, null]
    }
  }

  // --- commands from the control room -----------------------------------------------------
  private async obey(commands: Command[]): Promise<void> {
    for (const command of commands) {
      if (!command || typeof command.id !== "number" || this.handled.has(command.id)) continue
      const sessionID = String(command.agent_external_id ?? "")
      if (!sessionID || !this.registered.has(sessionID)) continue
      try {
        const result = await this.carryOut(sessionID, command)
        if (!result) continue // not now: the command comes again with a later answer
        this.handled.add(command.id)
        this.emit("command.ack", sessionID, { command_id: command.id, result })
      } catch {
        // the SDK call failed: the command is delivered again until acked
      }
    }
    if (this.queue.length) this.schedule()
  }

  private async carryOut(sessionID: string, command: Command): Promise<Json | null> {
    const s = this.session(sessionID)
    const data = command.data ?? {}
    switch (command.action) {
      case "stop":
      case "sleep": {
        s.hold = command.action
        s.taskId = null
        const busy = s.busy
        if (busy) {
          const answer = await this.client?.session.abort({ path: { id: sessionID } })
          if (!answer || answer.error) throw new Error("abort failed")
          this.interrupted(sessionID)
        }
        return { via: "session.abort", done: true, aborted: busy }
      }
      case "task": {
        if (s.busy || s.hold) return null // only an idle session takes a new task
        const title = String(data.title ?? "")
        const body = String(data.description ?? "")
        const text = `New task from Switchboard (task ${data.task_id}): ${title}${body ? `\n\n${body}` : ""}`
        s.taskId = data.task_id ?? null
        s.busy = true
        const answer = await this.client?.session.promptAsync({
          path: { id: sessionID },
          body: { parts: [{ type: "text", text: text.slice(0, 8000) }] },
        })
        if (!answer || answer.error) {
          s.taskId = null
          s.busy = false
          throw new Error("prompt failed")
        }
        return { via: "session.promptAsync", done: true }
      }
      case "wake":
      case "restart":
        s.hold = ""
        return { done: true, note: "no action needed" }
      case "unblock":
        return { done: true, note: "no action needed" }
      default:
        return { done: false, note: `unknown action ${command.action}` }
    }
  }

  /** While a session lives, ask now and then whether the control room wants something: an idle
   * session sends nothing else. The timer never keeps OpenCode running. */
  private startPolling(): void {
    if (this.timer || !this.pollMs || !this.enabled) return
    this.timer = setInterval(() => void this.poll(), this.pollMs)
    this.timer.unref?.()
  }

  private async poll(): Promise<void> {
    if (this.flushing || this.queue.length) return this.schedule() // its answer brings commands
    const events: SbEvent[] = [...this.registered]
      .filter((id) => !this.parents.has(id) && !this.ended.has(id))
      .map((id) => ({
        type: "agent.heartbeat",
        agent_external_id: id,
        ts: new Date().toISOString(),
        data: {},
        idempotency_key: `oc-${randomUUID()}`,
      }))
    if (events.length) await this.post(events).catch(() => false) // never spooled: stale at once
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
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

  /** True when the server has the batch (or will never take it: 400/413 are dropped). The
   * commands in its answer are carried out in the background. */
  private async post(events: SbEvent[]): Promise<boolean> {
    if (!this.key) return false
    try {
      const response = await fetch(this.url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Authorization: `Bearer ${this.key}`,
          "User-Agent": "switchboard-opencode/2",
        },
        body: JSON.stringify({ events }),
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      const text = await response.text().catch(() => "")
      if (response.ok) {
        try {
          const commands = JSON.parse(text)?.commands
          if (Array.isArray(commands) && commands.length) void this.obey(commands)
        } catch {
          // an answer without commands
        }
      }
      return response.ok || response.status === 400 || response.status === 413
    } catch {
      return false
    }
  }
}

export const SwitchboardPlugin: Plugin = async ({ directory, client }) => {
  const reporter = new SwitchboardReporter(process.env, directory, client)
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
      reporter.stop()
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
