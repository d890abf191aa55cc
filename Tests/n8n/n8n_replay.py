"""Replays an exported n8n workflow the way n8n would run it, for the node types Wharf's examples
use: triggers (Webhook, Manual, Schedule), Switch, IF, HTTP Request (really sent), Code (run with
node), Wait, No-op. Expressions are evaluated by `evaluate.js` (JavaScript, as in n8n); Code nodes
by `run_code_node.js`. HTTP Request nodes go over real sockets with the credentials the test maps
by name, and every call is recorded with its answer."""

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def node_js(script, payload):
    result = subprocess.run(["node", os.path.join(HERE, script)], input=json.dumps(payload), capture_output=True,
                            text=True, timeout=60)
    if result.returncode != 0 or not result.stdout:
        raise RuntimeError(f"{script} failed: {result.stderr}")
    return json.loads(result.stdout)


def run_code(js_code, items):
    """Runs a Code node's JavaScript over items ({"json", "binary"}); returns (ok, items or error)."""
    answer = node_js("run_code_node.js", {"jsCode": js_code, "items": items})
    return (True, answer["items"]) if answer["ok"] else (False, answer["error"])


class NodeFailed(Exception):
    """A node stopped the execution, as n8n would show it."""

    def __init__(self, node, message):
        super().__init__(f"{node}: {message}")
        self.node = node
        self.message = message


class Replay:
    """One execution of `workflow`, started at a trigger with the trigger's output items."""

    def __init__(self, workflow, credentials, execution_id="1", max_steps=60, wait_seconds=0.3):
        self.nodes = {node["name"]: node for node in workflow["nodes"]}
        self.connections = workflow.get("connections", {})
        self.credentials = credentials  # credential name -> (header name, header value)
        self.execution = {"id": execution_id}
        self.max_steps = max_steps
        self.wait_seconds = wait_seconds
        self.outputs = {}  # node name -> json of its last output items
        self.ran = []  # node names in the order they ran
        self.http = []  # (node, method, url, status, answer)

    def run(self, trigger, items):
        queue = [(trigger, items)]
        steps = 0
        while queue:
            name, items = queue.pop(0)
            steps += 1
            if steps > self.max_steps:
                raise AssertionError(f"the workflow ran more than {self.max_steps} steps (a loop that never ends?)")
            outputs = self.execute(self.nodes[name], items)
            self.ran.append(name)
            self.outputs[name] = [item["json"] for group in outputs for item in group]
            for index, group in enumerate(outputs):
                if not group:
                    continue
                targets = self.connections.get(name, {}).get("main", [])
                for target in targets[index] if index < len(targets) else []:
                    queue.append((target["node"], group))
        return self

    # Nodes

    def evaluate(self, node, item):
        answer = node_js("evaluate.js", {"params": node["parameters"], "context": {
            "json": item["json"], "nodes": self.outputs, "execution": self.execution, "env": {},
            "runIndex": self.ran.count(node["name"])}})
        if "error" in answer:
            raise AssertionError("an expression failed: " + answer["error"])
        return answer["params"]

    def execute(self, node, items):
        kind = node["type"].removeprefix("n8n-nodes-base.")
        if kind in ("webhook", "manualTrigger", "scheduleTrigger", "noOp"):
            return [items]
        if kind == "wait":
            time.sleep(self.wait_seconds)
            return [items]
        if kind == "if":
            passed, failed = [], []
            for item in items:
                params = self.evaluate(node, item)
                (passed if self.holds(params["conditions"]) else failed).append(item)
            return [passed, failed]
        if kind == "switch":
            return self.switch(node, items)
        if kind == "httpRequest":
            return [[self.request(node, item) for item in items]]
        if kind == "code":
            ok, result = run_code(node["parameters"]["jsCode"], items)
            if not ok:
                raise NodeFailed(node["name"], result)
            return [result]
        raise AssertionError(f"the replay does not know node type {node['type']}")

    def switch(self, node, items):
        rules = node["parameters"]["rules"]["values"]
        fallback = node["parameters"].get("options", {}).get("fallbackOutput", "none")
        outputs = [[] for _ in range(len(rules) + (1 if fallback == "extra" else 0))]
        for item in items:
            params = self.evaluate(node, item)
            for index, rule in enumerate(params["rules"]["values"]):
                if self.holds(rule["conditions"]):
                    outputs[index].append(item)
                    break
            else:
                if fallback == "extra":
                    outputs[-1].append(item)
        return outputs

    @staticmethod
    def holds(filter_):
        results = []
        for condition in filter_["conditions"]:
            left, right = condition.get("leftValue"), condition.get("rightValue")
            operator = condition["operator"]
            operation = operator["operation"]
            if operator["type"] == "boolean":
                results.append({"true": left is True, "false": left is False}[operation])
            elif operator["type"] == "number":
                left, right = float(left), float(right)
                results.append({"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right,
                                "equals": left == right}[operation])
            elif operator["type"] == "string":
                results.append({"equals": left == right, "notEquals": left != right,
                                "contains": isinstance(left, str) and right in left}[operation])
            else:
                raise AssertionError(f"the replay does not know operator {operator}")
        return all(results) if filter_.get("combinator", "and") == "and" else any(results)

    def request(self, node, item):
        params = self.evaluate(node, item)
        url = params["url"]
        if params.get("sendQuery"):
            query = urllib.parse.urlencode([(p["name"], p["value"]) for p in params["queryParameters"]["parameters"]])
            url += ("&" if "?" in url else "?") + query
        headers = {"Accept": "application/json"}
        if params.get("authentication") == "genericCredentialType":
            assert params["genericAuthType"] == "httpHeaderAuth", params["genericAuthType"]
            credential = node["credentials"]["httpHeaderAuth"]["name"]
            name, value = self.credentials[credential]
            headers[name] = value
        if params.get("sendHeaders"):
            for header in params["headerParameters"]["parameters"]:
                headers[header["name"]] = str(header["value"])
        data = None
        if params.get("sendBody"):
            assert params.get("specifyBody") == "json", "only JSON bodies are replayed"
            body = params["jsonBody"]
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            json.loads(data)  # n8n refuses a body that is not JSON
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=params.get("method", "GET"), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {"data": text}
        self.http.append((node["name"], params.get("method", "GET"), url, status, answer))
        if not 200 <= status < 300:
            # n8n's HTTP Request node fails the execution on a non-2xx answer by default.
            raise NodeFailed(node["name"], f"HTTP {status}: {text[:300]}")
        return {"json": answer if isinstance(answer, dict) else {"data": answer}}
