// Runs an n8n Code node's JavaScript ("Run Once for All Items") the way n8n's task runner does, with
// the parts of its sandbox that Wharf's examples use: $input, $json, items, this.helpers
// .getBinaryDataBuffer, Buffer. Reads {"jsCode", "items"} as JSON on stdin (binary data as base64,
// as n8n keeps it) and prints {"ok": true, "items": …} or {"ok": false, "error": "…"}.
const vm = require('vm');

const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', async () => {
  const { jsCode, items } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const helpers = {
    async getBinaryDataBuffer(index, property) {
      const binary = items[index] && items[index].binary && items[index].binary[property];
      if (!binary) throw new Error(`This node has no binary data property '${property}' on item ${index}`);
      return Buffer.from(binary.data, 'base64');
    },
  };
  const $input = { all: () => items, first: () => items[0], last: () => items[items.length - 1] };
  // Like n8n: the code is the body of an async function, run in a fresh context whose globals are
  // the sandbox's; `require` is not among them (n8n allows no modules by default).
  const context = vm.createContext({
    $input, $json: items[0] ? items[0].json : {}, items, helpers, Buffer, console, TextEncoder, TextDecoder, btoa, atob,
  });
  try {
    const result = await vm.runInContext(`(async function () {\n${jsCode}\n}).call({ helpers })`, context);
    process.stdout.write(JSON.stringify({ ok: true, items: result }));
  } catch (error) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(error && error.message ? error.message : error) }));
  }
});
