// Evaluates the expressions in an n8n node's parameters the way n8n does for the parts Wharf's
// examples use: a string that starts with "=" is a template whose {{ … }} segments are
// JavaScript, with $json, $input, $('Node'), $node, $execution, $runIndex and $env in scope. A template that
// is one segment and nothing else yields the value itself; otherwise the text with values filled in.
// Reads {"params", "context": {"json", "nodes": {name: [json…]}, "execution", "env"}} on stdin and
// prints the evaluated parameters, or {"error": "…"}. ($runIndex: how often this node ran before.)
const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', () => {
  const { params, context } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const nodeOutput = (name) => {
    const items = (context.nodes || {})[name];
    if (!items) throw new Error(`Referenced node is unexecuted: ${name}`);
    return {
      item: { json: items[0] }, first: () => ({ json: items[0] }), last: () => ({ json: items[items.length - 1] }),
      all: () => items.map((json) => ({ json })), json: items[0],
    };
  };
  const scope = {
    $json: context.json || {},
    $input: { first: () => ({ json: context.json }), all: () => [{ json: context.json }], item: { json: context.json } },
    $: nodeOutput,
    $node: new Proxy({}, { get: (_, name) => nodeOutput(String(name)) }),
    $execution: context.execution || { id: '1' },
    $runIndex: context.runIndex || 0,
    $env: context.env || {},
  };
  const names = Object.keys(scope);
  function run(code) {
    return new Function(...names, `return (${code});`)(...names.map((name) => scope[name]));
  }
  function text(value) {
    if (value === undefined || value === null) return '';
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  function template(source) {
    const body = source.slice(1);
    const pattern = /\{\{([\s\S]*?)\}\}/g;
    const pieces = [];
    const values = [];
    let last = 0;
    let match;
    while ((match = pattern.exec(body)) !== null) {
      pieces.push(body.slice(last, match.index));
      values.push(run(match[1]));
      last = pattern.lastIndex;
    }
    pieces.push(body.slice(last));
    if (values.length === 1 && pieces[0].trim() === '' && pieces[1].trim() === '') return values[0];
    return pieces.map((piece, index) => piece + (index < values.length ? text(values[index]) : '')).join('');
  }
  function walk(value) {
    if (typeof value === 'string') return value.startsWith('=') ? template(value) : value;
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
    return value;
  }
  try {
    process.stdout.write(JSON.stringify({ params: walk(params) }));
  } catch (error) {
    process.stdout.write(JSON.stringify({ error: String(error && error.message ? error.message : error) }));
  }
});
