// Plays a scenario against the compiled OpenCode plugin the way OpenCode calls it: the plugin
// function with a PluginInput, then its hooks with (input, output) and event objects, then
// dispose(). Usage: node opencode_driver.mjs <compiled plugin.js> <scenario.json>
import { readFileSync } from "node:fs"
import { pathToFileURL } from "node:url"

const [pluginPath, scenarioPath] = process.argv.slice(2)
const mod = await import(pathToFileURL(pluginPath).href)
const scenario = JSON.parse(readFileSync(scenarioPath, "utf8"))

// OpenCode calls every export of a plugin module as a plugin; there must be exactly one.
const exported = Object.entries(mod)
if (exported.length !== 1 || typeof exported[0][1] !== "function") {
  console.error(`expected one exported plugin function, got ${exported.map(([n]) => n)}`)
  process.exit(3)
}
// The SDK client, as far as the plugin uses it: every call is printed ("client <method> <json>")
// and answered the way OpenCode's server answers.
const call = (name, answer) => async (options) => {
  console.log(`client ${name} ${JSON.stringify(options)}`)
  return { data: answer, error: undefined }
}
const client = { session: { abort: call("session.abort", true), promptAsync: call("session.promptAsync", undefined) } }
const hooks = await exported[0][1]({
  client,
  project: { id: "prj_1", worktree: scenario.directory, time: { created: Date.now() } },
  directory: scenario.directory,
  worktree: scenario.directory,
  experimental_workspace: { register() {} },
  serverUrl: new URL("http://127.0.0.1:4096"),
  $: () => {
    throw new Error("the plugin must not shell out")
  },
})

for (const step of scenario.steps) {
  if (step.sleep) {
    await new Promise((r) => setTimeout(r, step.sleep))
    continue
  }
  const fn = hooks[step.hook]
  if (typeof fn !== "function") {
    console.error(`the plugin has no ${step.hook} hook`)
    process.exit(4)
  }
  const started = performance.now()
  await fn(...step.args)
  const took = performance.now() - started
  // A hook that awaited the platform would take its round trip; the budget leaves room for a
  // loaded CI machine (62 ms seen with 50) while staying far under the client's timeout.
  if (took > 250) {
    console.error(`${step.hook} took ${took.toFixed(0)} ms; hooks must not wait on the network`)
    process.exit(5)
  }
}
if (hooks.dispose) await hooks.dispose()
console.log("done")
