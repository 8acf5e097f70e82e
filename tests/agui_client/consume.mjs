// Drives the hub's POST /ag-ui with the official AG-UI client (HttpAgent), which verifies the
// event stream as it goes. Prints one JSON line per run: the event types, the interrupts, the
// text and the messages the client assembled. Usage: node consume.mjs <hub url> <key> <thread>
import { HttpAgent } from "@ag-ui/client";

const [url, key, threadId] = process.argv.slice(2);
const agent = new HttpAgent({
  url: `${url}/ag-ui`,
  headers: { "X-Internal-Auth": key },
  threadId,
  initialMessages: [{ id: "u1", role: "user", content: "write code" }],
});

async function run(parameters) {
  const types = [];
  let finished = null;
  const { newMessages } = await agent.runAgent(parameters, {
    onEvent({ event }) {
      types.push(event.type);
      if (event.type === "RUN_FINISHED") finished = event;
    },
  });
  const text = newMessages.filter((m) => m.role === "assistant").map((m) => m.content ?? "").join("");
  const line = { types, outcome: finished?.outcome ?? null, text, roles: newMessages.map((m) => m.role) };
  console.log(JSON.stringify(line));
  return line;
}

const first = await run({ runId: "js-1" });
const interrupts = first.outcome?.interrupts ?? [];
await run({
  runId: "js-2",
  resume: interrupts.map((i) => ({ interruptId: i.id, status: "resolved", payload: { decision: "reject", feedback: "not now" } })),
});
