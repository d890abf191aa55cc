/// The consoles' Mustache templates, compiled into the binary. `{{name}}` escapes HTML (quotes
/// included), so every value a user or a webhook receiver can influence is inert; nothing here
/// uses the unescaped `{{{…}}}` form.
///
/// Forms marked `data-api` are submitted by `console.js` to the JSON API (see ``ConsoleAssets``);
/// every form carries the session's CSRF token.
enum ConsoleTemplates {
    static let all: [String: String] = [
        "login": login, "layout": layout, "csrf": csrf, "deliveryRows": deliveryRows, "endpointHealth": endpointHealth,
        "adminOverview": adminOverview, "adminTenants": adminTenants, "adminTenant": adminTenant,
        "adminSessions": adminSessions, "deliveries": deliveries, "delivery": delivery, "adminEndpoints": adminEndpoints,
        "tenantSessions": tenantSessions, "tenantSession": tenantSession, "tenantWebhooks": tenantWebhooks,
        "tenantSettings": tenantSettings, "tenantMessages": tenantMessages,
    ]

    static let head = """
        <!doctype html><html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <link rel="stylesheet" href="/assets/console.css">
        """

    static let login = head + """
        <title>{{title}}</title></head>
        <body><main class="login"><section><h1>{{title}}</h1>
        {{#error}}<p role="alert">{{error}}</p>{{/error}}
        <form method="post" action="{{action}}" class="stack">
        <input type="hidden" name="_csrf" value="{{csrf}}">
        {{#asksUsername}}<label>Username <input name="username" autocomplete="username" required autofocus></label>{{/asksUsername}}
        <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
        <button type="submit">Log in</button></form></section></main></body></html>
        """

    static let layout = head + """
        <meta name="csrf-token" content="{{csrf}}"><title>{{title}} · Wharf</title>
        <script src="/assets/console.js" defer></script></head>
        <body><header><a class="brand" href="{{home}}">Wharf</a><span class="role">{{role}}</span>
        <nav>{{#nav}}<a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>{{/nav}}</nav>
        <form method="post" action="{{logout}}"><input type="hidden" name="_csrf" value="{{csrf}}">
        <button class="secondary" type="submit">Log out</button></form></header>
        <main><h1>{{title}}</h1>{{$content}}{{/content}}</main></body></html>
        """

    static let csrf = #"<input type="hidden" name="_csrf" value="{{csrf}}">"#

    // MARK: Admin

    static let adminOverview = """
        {{<layout}}{{$content}}{{#page}}
        <div class="cards">
        <div class="card"><div class="figure">{{tenantCount}}</div><div class="label">tenants</div></div>
        <div class="card"><div class="figure">{{sessionCount}}</div><div class="label">sessions</div></div>
        <div class="card"><div class="figure">{{jobsQueued}}</div><div class="label">messages queued to send</div></div>
        <div class="card"><div class="figure">{{deliveriesPending}}</div><div class="label">webhook deliveries waiting</div></div>
        <div class="card"><div class="figure">{{oldestPending}}</div><div class="label">oldest waiting delivery</div></div>
        <div class="card"><div class="figure">{{deliveriesFailed}}</div><div class="label">failed deliveries</div></div>
        </div>
        <h2>Sessions by status</h2>
        <table><thead><tr><th>Status</th><th>Sessions</th></tr></thead><tbody>
        {{#sessionsByStatus}}<tr><td><span class="status {{name}}">{{name}}</span></td><td>{{count}}</td></tr>{{/sessionsByStatus}}
        {{^sessionsByStatus}}<tr><td colspan="2" class="muted">No sessions yet.</td></tr>{{/sessionsByStatus}}
        </tbody></table>
        <h2>Deliveries by status</h2>
        <table><thead><tr><th>Status</th><th>Deliveries</th></tr></thead><tbody>
        {{#deliveriesByStatus}}<tr><td><a href="/admin/deliveries?status={{name}}"><span class="status {{name}}">{{name}}</span></a></td><td>{{count}}</td></tr>{{/deliveriesByStatus}}
        </tbody></table>
        <h2>Failing endpoints</h2>
        {{#hasFailing}}{{>endpointHealth}}{{/hasFailing}}
        {{^hasFailing}}<p class="muted">Every endpoint is healthy.</p>{{/hasFailing}}
        {{/page}}{{/content}}{{/layout}}
        """

    /// Endpoint rows (``EndpointRow``) in context as `rows`.
    static let endpointHealth = """
        <table><thead><tr><th>Tenant</th><th>URL</th><th>Breaker</th><th>Failures</th><th>Failing since</th>
        <th>Last success</th><th>Last failure</th><th></th></tr></thead><tbody>
        {{#rows}}<tr id="endpoint-{{id}}"><td><a href="/admin/tenants/{{tenantId}}">{{tenantName}}</a></td><td class="mono">{{url}}</td>
        <td><span class="status {{breaker}}">{{breaker}}</span>{{#disabledReason}}<div class="bad">{{disabledReason}}</div>{{/disabledReason}}</td>
        <td>{{failureStreak}}</td><td>{{failingSince}}</td><td>{{lastSuccess}}</td><td>{{lastFailure}}</td>
        <td class="actions"><a href="/admin/deliveries?endpointId={{id}}">deliveries</a>
        {{#canEnable}}<form data-api="/v1/webhooks/{{id}}/enable" method="post">{{>csrf}}<button type="submit">Re-enable</button></form>{{/canEnable}}</td></tr>{{/rows}}
        </tbody></table>
        """

    static let adminEndpoints = """
        {{<layout}}{{$content}}{{#page}}
        <p class="muted">Every tenant's webhook endpoints with their circuit breaker. An open breaker holds deliveries and
        probes once a minute; a disabled endpoint (HTTP 410, or failing for 72 hours) waits for you to re-enable it.</p>
        {{>endpointHealth}}
        {{^rows}}<p class="muted">No endpoints yet.</p>{{/rows}}
        {{/page}}{{/content}}{{/layout}}
        """

    static let adminTenants = """
        {{<layout}}{{$content}}{{#page}}
        <table><thead><tr><th>Name</th><th>Login</th><th>Sessions</th><th>Webhook</th><th>Created</th></tr></thead><tbody>
        {{#tenants}}<tr><td><a href="/admin/tenants/{{id}}">{{name}}</a></td><td>{{username}}</td><td>{{sessionCount}} / {{maxSessions}}</td>
        <td class="mono">{{webhookUrl}}</td><td>{{created}}</td></tr>{{/tenants}}
        {{^tenants}}<tr><td colspan="5" class="muted">No tenants yet.</td></tr>{{/tenants}}
        </tbody></table>
        <h2>New tenant</h2>
        <section><form class="stack" data-api="/v1/tenants" data-then="go:/admin/tenants/{id}" id="create-tenant">{{>csrf}}
        <label>Name <input name="name" required maxlength="100"></label>
        <label>Login (username) <input name="username" required autocomplete="off"></label>
        <label>Password <input name="password" type="password" required minlength="8" autocomplete="new-password"></label>
        <label>Webhook URL (optional) <input name="webhookUrl" type="url" placeholder="https://n8n.example.com/webhook/…"></label>
        <label>Max sessions <input name="maxSessions" type="number" min="1" value="1" data-type="int"></label>
        <button type="submit">Create tenant</button></form></section>
        {{/page}}{{/content}}{{/layout}}
        """

    static let adminTenant = """
        {{<layout}}{{$content}}{{#page}}{{#tenant}}
        <section><h2>Details</h2>
        <form class="stack" data-api="/v1/tenants/{{id}}" data-method="PATCH" id="edit-tenant">{{>csrf}}
        <label>Name <input name="name" value="{{name}}" required maxlength="100"></label>
        <label>Login (username) <input name="username" value="{{username}}" required autocomplete="off"></label>
        <label>Max sessions <input name="maxSessions" type="number" min="1" value="{{maxSessions}}" data-type="int"></label>
        <label>Settings (JSON: <code>ai_prompt</code>, <code>humanize</code>, …) <textarea name="settings" data-type="json" rows="6">{{settings}}</textarea></label>
        <button type="submit">Save</button></form></section>
        <section><h2>Reset password</h2>
        <form class="inline" data-api="/v1/tenants/{{id}}/password" data-then="show" data-show="#password-result" data-message="Password changed.">{{>csrf}}
        <label>New password <input name="password" type="password" required minlength="8" autocomplete="new-password"></label>
        <button type="submit">Set password</button></form><output id="password-result" hidden></output></section>
        {{/tenant}}
        <h2>Webhook endpoints</h2>
        <table><thead><tr><th>URL</th><th>Events</th><th>State</th><th></th></tr></thead><tbody>
        {{#endpoints}}<tr><td class="mono">{{url}}</td><td>{{events}}</td><td><span class="status {{breaker}}">{{breaker}}</span></td>
        <td class="actions"><form data-api="/v1/webhooks/{{id}}" data-method="DELETE" data-confirm="Delete this endpoint? Its pending deliveries are dropped.">{{>csrf}}<button class="danger" type="submit">Delete</button></form></td></tr>{{/endpoints}}
        {{^endpoints}}<tr><td colspan="4" class="muted">No endpoints: events are kept but not delivered.</td></tr>{{/endpoints}}
        </tbody></table>
        {{#tenant}}<section><form class="inline" data-api="/v1/webhooks" id="add-endpoint">{{>csrf}}
        <input type="hidden" name="tenantId" value="{{id}}">
        <label>URL <input name="url" type="url" required size="50"></label>
        <label>Events (comma-separated, empty for all) <input name="eventTypes" data-type="list" placeholder="message.received, session.status"></label>
        <button type="submit">Add endpoint</button></form></section>{{/tenant}}
        <h2>Sessions</h2>
        <table><thead><tr><th>Name</th><th>Engine</th><th>Status</th><th>Phone</th></tr></thead><tbody>
        {{#sessions}}<tr><td>{{name}}</td><td>{{engine}}</td><td><span class="status {{status}}">{{status}}</span></td><td>{{phone}}</td></tr>{{/sessions}}
        {{^sessions}}<tr><td colspan="4" class="muted">No sessions.</td></tr>{{/sessions}}
        </tbody></table>
        {{#tenant}}<h2>Delete</h2><section>
        <form data-api="/v1/tenants/{{id}}" data-method="DELETE" data-then="go:/admin/tenants" id="delete-tenant"
         data-confirm="Delete tenant “{{name}}” with its sessions, webhooks, deliveries and keys? This cannot be undone.">{{>csrf}}
        <button class="danger" type="submit">Delete tenant</button></form></section>{{/tenant}}
        {{/page}}{{/content}}{{/layout}}
        """

    static let adminSessions = """
        {{<layout}}{{$content}}{{#page}}
        <table><thead><tr><th>Session</th><th>Tenant</th><th>Engine</th><th>Status</th><th>Phone</th><th>Last activity</th><th></th></tr></thead><tbody>
        {{#sessions}}<tr id="session-{{id}}"><td>{{name}}<div class="muted mono">{{id}}</div></td><td><a href="/admin/tenants/{{tenantId}}">{{tenantName}}</a></td>
        <td>{{engine}}</td><td><span class="status {{status}}">{{status}}</span>{{#statusDetail}}<div class="muted">{{statusDetail}}</div>{{/statusDetail}}</td>
        <td>{{phone}}</td><td>{{lastActivity}}</td>
        <td class="actions"><form data-api="/v1/sessions/{{id}}/restart">{{>csrf}}<button class="secondary" type="submit">Restart</button></form>
        <form data-api="/v1/sessions/{{id}}" data-method="DELETE" data-confirm="Terminate session “{{name}}”? It logs out and is deleted.">{{>csrf}}<button class="danger" type="submit">Terminate</button></form></td></tr>{{/sessions}}
        {{^sessions}}<tr><td colspan="7" class="muted">No sessions.</td></tr>{{/sessions}}
        </tbody></table>
        {{/page}}{{/content}}{{/layout}}
        """

    // MARK: Deliveries (both consoles)

    static let deliveryRows = """
        <table id="deliveries"><thead><tr><th>#</th><th>Event</th>{{#isAdmin}}<th>Tenant</th>{{/isAdmin}}<th>Endpoint</th><th>Status</th>
        <th>Attempts</th><th>Last result</th><th>Created</th><th></th></tr></thead><tbody>
        {{#rows}}<tr id="delivery-{{id}}"><td><a href="{{base}}/deliveries/{{id}}">{{id}}</a></td><td>{{type}}<div class="muted mono">{{eventId}}</div></td>
        {{#isAdmin}}<td>{{tenantName}}</td>{{/isAdmin}}<td class="mono">{{endpointUrl}}</td><td><span class="status {{status}}">{{status}}</span>{{#label}}<div class="muted">{{label}}</div>{{/label}}</td>
        <td>{{attempts}}</td><td>{{lastResult}}</td><td>{{created}}</td>
        <td class="actions">{{#canRetry}}<form data-api="/v1/deliveries/{{id}}/retry">{{>csrf}}<button class="secondary" type="submit">Retry</button></form>{{/canRetry}}</td></tr>{{/rows}}
        {{^rows}}<tr><td colspan="9" class="muted">No deliveries match.</td></tr>{{/rows}}
        </tbody></table>
        """

    static let deliveries = """
        {{<layout}}{{$content}}{{#page}}
        <section><form class="inline" method="get" action="{{base}}/deliveries" id="filter">
        <label>Status <select name="status"><option value="">any</option>{{#statuses}}<option{{#selected}} selected{{/selected}}>{{name}}</option>{{/statuses}}</select></label>
        {{#isAdmin}}<label>Tenant <select name="tenantId"><option value="">any</option>{{#tenants}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/tenants}}</select></label>{{/isAdmin}}
        <label>Endpoint <select name="endpointId"><option value="">any</option>{{#endpoints}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/endpoints}}</select></label>
        <label>Event type <input name="type" value="{{filter.type}}" placeholder="message.received" size="16"></label>
        <label>From (UTC) <input type="datetime-local" name="from" value="{{filter.from}}"></label>
        <label>To (UTC) <input type="datetime-local" name="to" value="{{filter.to}}"></label>
        <button type="submit">Filter</button> <a href="{{base}}/deliveries">clear</a></form></section>
        <p class="muted">{{total}} matching deliveries.</p>
        {{>deliveryRows}}
        {{#older}}<p class="pager"><a href="{{older}}">Older →</a></p>{{/older}}
        <h2>Bulk actions</h2>
        <section>
        <form class="inline" data-api="/v1/deliveries/retry" id="retry-matching" data-then="count" data-show="#bulk-result"
         data-count="Retry {count} failed deliveries matching this filter?" data-done="{count} deliveries queued again.">{{>csrf}}
        {{#filter}}{{#tenantId}}<input type="hidden" name="tenantId" value="{{tenantId}}">{{/tenantId}}{{#endpointId}}<input type="hidden" name="endpointId" value="{{endpointId}}">{{/endpointId}}{{#type}}<input type="hidden" name="type" value="{{type}}">{{/type}}{{#from}}<input type="hidden" name="from" value="{{from}}" data-type="datetime">{{/from}}{{#to}}<input type="hidden" name="to" value="{{to}}" data-type="datetime">{{/to}}{{#status}}<input type="hidden" name="status" value="{{status}}">{{/status}}{{/filter}}
        <button type="submit">Retry all matching</button> <span class="muted">(failed ones, or the status filtered on)</span></form>
        <form class="inline" data-api="/v1/deliveries/replay" id="replay-range" data-then="count" data-show="#bulk-result"
         data-count="Replay {count} deliveries in this range? Receivers get them again with the same webhook-id." data-done="{count} deliveries replayed.">{{>csrf}}
        {{#filter}}{{#tenantId}}<input type="hidden" name="tenantId" value="{{tenantId}}">{{/tenantId}}{{#endpointId}}<input type="hidden" name="endpointId" value="{{endpointId}}">{{/endpointId}}{{#type}}<input type="hidden" name="type" value="{{type}}">{{/type}}{{/filter}}
        <label>From (UTC) <input type="datetime-local" name="from" value="{{filter.from}}" data-type="datetime" required></label>
        <label>To (UTC) <input type="datetime-local" name="to" value="{{filter.to}}" data-type="datetime" required></label>
        <button type="submit">Replay range</button></form>
        <output id="bulk-result" hidden></output></section>
        {{/page}}{{/content}}{{/layout}}
        """

    static let delivery = """
        {{<layout}}{{$content}}{{#page}}
        <section><table><tbody>
        <tr><th>Event</th><td>{{type}} <span class="mono muted">{{eventId}}</span></td></tr>
        {{#isAdmin}}<tr><th>Tenant</th><td><a href="/admin/tenants/{{tenantId}}">{{tenantName}}</a></td></tr>{{/isAdmin}}
        <tr><th>Endpoint</th><td class="mono">{{endpointUrl}}</td></tr>
        <tr><th>Status</th><td><span class="status {{status}}" id="delivery-status">{{status}}</span> {{#label}}<span class="muted">{{label}}</span>{{/label}}</td></tr>
        <tr><th>Created</th><td>{{created}}</td></tr><tr><th>Next attempt</th><td>{{nextAttempt}}</td></tr>
        <tr><th>Delivered</th><td>{{delivered}}</td></tr></tbody></table>
        <p>{{#canRetry}}<form class="inline" data-api="/v1/deliveries/{{id}}/retry" id="retry-one">{{>csrf}}<button type="submit">Retry now</button></form>{{/canRetry}}
        {{#canDiscard}}<form class="inline" data-api="/v1/deliveries/{{id}}/discard" data-confirm="Discard this delivery? It will not be retried.">{{>csrf}}<button class="danger" type="submit">Discard</button></form>{{/canDiscard}}</p></section>
        <h2>Attempts</h2>
        <table id="attempts"><thead><tr><th>#</th><th>Started</th><th>Duration</th><th>HTTP</th><th>Error</th><th>Response</th></tr></thead><tbody>
        {{#attempts}}<tr><td>{{attempt}}</td><td>{{started}}</td><td>{{durationMs}} ms</td><td>{{httpStatus}}</td><td>{{error}}</td><td class="mono">{{response}}</td></tr>{{/attempts}}
        {{^attempts}}<tr><td colspan="6" class="muted">Not attempted yet.</td></tr>{{/attempts}}
        </tbody></table>
        <h2>Payload</h2><pre id="payload">{{payload}}</pre>
        {{/page}}{{/content}}{{/layout}}
        """

    // MARK: Tenant

    static let tenantSessions = """
        {{<layout}}{{$content}}{{#page}}
        <p class="muted">{{count}} of {{maxSessions}} session{{^single}}s{{/single}} in use.</p>
        <table><thead><tr><th>Name</th><th>Engine</th><th>Status</th><th>Phone</th><th>Last activity</th></tr></thead><tbody>
        {{#sessions}}<tr><td><a href="/dashboard/sessions/{{id}}">{{name}}</a></td><td>{{engine}}</td><td><span class="status {{status}}">{{status}}</span></td><td>{{phone}}</td><td>{{lastActivity}}</td></tr>{{/sessions}}
        {{^sessions}}<tr><td colspan="5" class="muted">No sessions yet. Create one below and link it.</td></tr>{{/sessions}}
        </tbody></table>
        <h2>New session</h2>
        <section>
        {{#atLimit}}<p role="status" class="bad" id="limit-reached">You have reached your limit of {{maxSessions}} session{{^single}}s{{/single}}. Delete one, or ask your administrator to raise the limit.</p>{{/atLimit}}
        <form class="stack" data-api="/v1/sessions" data-then="go:/dashboard/sessions/{id}" id="create-session">{{>csrf}}
        <label>Name <input name="name" required maxlength="100" placeholder="Support line"></label>
        <label>Engine <select name="engine">{{#engines}}<option>{{.}}</option>{{/engines}}</select></label>
        <fieldset><legend>Sandbox options</legend>
        <label class="check"><input type="checkbox" name="sandbox.qr" checked> Link through a QR code (scan it with the button on the session page)</label>
        <label class="check"><input type="checkbox" name="sandbox.echo"> Echo contact answers what it is sent</label></fieldset>
        <fieldset><legend>Cloud API settings (engine cloud)</legend>
        <p class="muted">From your Meta app: WhatsApp → API Setup, and App settings → Basic. The token and secrets are stored encrypted and never shown again.</p>
        <label>Phone number ID <input name="cloud.phoneNumberId" inputmode="numeric" maxlength="32" autocomplete="off"></label>
        <label>Access token <input name="cloud.accessToken" type="password" autocomplete="off"></label>
        <label>App secret <input name="cloud.appSecret" type="password" autocomplete="off"></label>
        <label>Verify token (any text; enter the same in Meta's webhook settings) <input name="cloud.verifyToken" autocomplete="off" maxlength="256"></label></fieldset>
        <button type="submit">Create session</button></form></section>
        {{/page}}{{/content}}{{/layout}}
        """

    static let tenantSession = """
        {{<layout}}{{$content}}{{#page}}
        <section data-live-session="{{id}}" data-qr="{{qr}}" id="session-panel">
        <p>Status: <span class="status {{status}}" data-field="status" id="session-status">{{status}}</span>
        <span class="muted" data-field="statusDetail">{{statusDetail}}</span></p>
        <p>Phone: <strong data-field="phone" id="session-phone">{{phone}}</strong> <span class="muted" data-field="pushName">{{pushName}}</span></p>
        <div class="qr"{{^linking}} hidden{{/linking}}>
        <img id="qr-image" alt="QR code to scan with WhatsApp" src="/v1/sessions/{{id}}/qr.svg"{{^qr}} hidden{{/qr}}>
        <div><p>Open WhatsApp on the phone → <em>Linked devices</em> → <em>Link a device</em>, and scan the code.
        It refreshes by itself until the phone is linked.</p>
        <p class="pairing-code" id="pairing-code">{{pairingCode}}</p></div></div>
        <p role="alert" data-field="error"></p></section>
        {{#isSandbox}}<section><h2>Sandbox</h2><p class="muted">The sandbox simulates a phone: “scan” the QR code from here.</p>
        <form class="inline" data-api="/v1/sessions/{{id}}/sandbox/scan" data-then="show" data-show="#scan-result" data-field="status" id="sandbox-scan">{{>csrf}}
        <button type="submit">Simulate scanning the QR code</button></form><output id="scan-result" hidden></output></section>{{/isSandbox}}
        {{#isWeb}}<section><h2>Link with a phone number</h2>
        <p class="muted">Instead of scanning: WhatsApp shows a notification on that phone, where you type the code shown here.</p>
        <form class="inline" data-api="/v1/sessions/{{id}}/pairing-code" data-then="show" data-show="#pairing-result" data-field="pairingCode" id="pairing-code-form">{{>csrf}}
        <label>Phone <input name="phone" type="tel" placeholder="+49 170 1234567" required maxlength="32"></label>
        <button type="submit">Get a pairing code</button></form><output id="pairing-result" class="pairing-code" hidden></output>
        <p><form class="inline" data-api="/v1/sessions/{{id}}/logout" data-then="reload" id="logout-session"
         data-confirm="Unlink this device from WhatsApp? The session stays; restart it to link again.">{{>csrf}}<button class="secondary" type="submit">Log out</button></form></p></section>{{/isWeb}}
        {{#cloud}}<section><h2>Cloud API</h2>
        <p>Phone number ID <span class="mono">{{phoneNumberId}}</span>. In your Meta app, under WhatsApp → Configuration, set the
        callback URL to <code class="mono" id="cloud-webhook-url">{{webhookUrl}}</code> with this session's verify token, and subscribe to <em>messages</em>.</p>
        <form class="inline" data-api="/v1/sessions/{{id}}" data-method="PATCH" id="cloud-token-form">{{>csrf}}
        <label>New access token <input name="cloud.accessToken" type="password" autocomplete="off" required></label>
        <button type="submit">Replace the token and restart</button></form></section>{{/cloud}}
        <h2>Manage</h2><section>
        <form class="inline" data-api="/v1/sessions/{{id}}" data-method="PATCH" id="rename-session">{{>csrf}}
        <label>Name <input name="name" value="{{name}}" required maxlength="100"></label><button type="submit">Rename</button></form>
        <p><form class="inline" data-api="/v1/sessions/{{id}}/restart">{{>csrf}}<button class="secondary" type="submit">Restart</button></form>
        <form class="inline" data-api="/v1/sessions/{{id}}" data-method="DELETE" data-then="go:/dashboard" id="delete-session"
         data-confirm="Delete session “{{name}}”? It logs out from WhatsApp.">{{>csrf}}<button class="danger" type="submit">Delete</button></form></p>
        <p class="muted">Engine {{engine}} · id <span class="mono">{{id}}</span> · created {{created}}</p></section>
        {{/page}}{{/content}}{{/layout}}
        """

    static let tenantWebhooks = """
        {{<layout}}{{$content}}{{#page}}
        <p class="muted">Every event is signed the Standard Webhooks way (<code>webhook-id</code>, <code>webhook-timestamp</code>,
        <code>webhook-signature</code>) with the endpoint's secret.</p>
        {{#endpoints}}<section id="endpoint-{{id}}"><h2 class="mono">{{url}}</h2>
        <p>Breaker <span class="status {{breaker}}">{{breaker}}</span> {{#disabledReason}}<span class="bad">{{disabledReason}}</span>{{/disabledReason}}
        · events: {{events}} · last success {{lastSuccess}} · last failure {{lastFailure}}</p>
        <form class="inline" data-api="/v1/webhooks/{{id}}/secret" data-method="GET" data-then="show" data-show="#secret-{{id}}" data-field="secret">{{>csrf}}<button class="secondary" type="submit">Reveal secret</button></form>
        <form class="inline rotate" data-api="/v1/webhooks/{{id}}/rotate" data-then="show" data-show="#secret-{{id}}" data-field="secret"
         data-confirm="Rotate the secret? The old one keeps working for 24 hours.">{{>csrf}}<button class="secondary" type="submit">Rotate secret</button></form>
        <form class="inline send-test" data-api="/v1/webhooks/{{id}}/test" data-then="watch" data-show="#test-{{id}}">{{>csrf}}<button type="submit">Send test event</button></form>
        {{#disabled}}<form class="inline" data-api="/v1/webhooks/{{id}}/enable">{{>csrf}}<button type="submit">Re-enable</button></form>{{/disabled}}
        <output id="secret-{{id}}" class="mono secret" hidden></output><output id="test-{{id}}" class="test-result" hidden></output>
        <details><summary>Edit</summary>
        <form class="stack" data-api="/v1/webhooks/{{id}}" data-method="PATCH">{{>csrf}}
        <label>URL <input name="url" type="url" value="{{url}}" required></label>
        <label>Events (comma-separated, empty for all) <input name="eventTypes" data-type="list" value="{{eventList}}" data-empty="[]"></label>
        <label>Static header name (optional) <input name="header.name" value="{{headerName}}"></label>
        <label>Static header value <input name="header.value" type="password" autocomplete="off" placeholder="required with a name"></label>
        <label>Basic auth username (optional) <input name="basicAuth.username" value="{{basicUser}}"></label>
        <label>Basic auth password <input name="basicAuth.password" type="password" autocomplete="off"></label>
        <button type="submit">Save</button></form>
        <form class="inline" data-api="/v1/webhooks/{{id}}" data-method="DELETE" data-confirm="Delete this endpoint?">{{>csrf}}<button class="danger" type="submit">Delete endpoint</button></form>
        </details></section>{{/endpoints}}
        {{^endpoints}}<p class="muted">No endpoints yet: events are kept but go nowhere.</p>{{/endpoints}}
        <h2>Add an endpoint</h2>
        <section><form class="stack" data-api="/v1/webhooks" id="add-endpoint">{{>csrf}}
        <label>URL <input name="url" type="url" required placeholder="https://n8n.example.com/webhook/wharf"></label>
        <label>Events (comma-separated, empty for all) <input name="eventTypes" data-type="list" placeholder="message.received, message.sent"></label>
        <button type="submit">Add endpoint</button></form></section>
        {{/page}}{{/content}}{{/layout}}
        """

    static let tenantSettings = """
        {{<layout}}{{$content}}{{#page}}
        <section><h2>Workflow settings</h2>
        <form class="stack" data-api="/v1/me/settings" data-method="PUT" id="settings">{{>csrf}}
        <label>AI prompt (sent with every event as <code>settings.ai_prompt</code>) <textarea name="ai_prompt" rows="4" data-empty="null">{{aiPrompt}}</textarea></label>
        <fieldset><legend>Sending like a person (defaults for every send)</legend>{{#humanize}}
        <label class="check"><input type="checkbox" name="humanize.enabled"{{#enabled}} checked{{/enabled}}> Humanize sends</label>
        <label class="check"><input type="checkbox" name="humanize.markRead"{{#markRead}} checked{{/markRead}}> Mark the chat read first</label>
        <label>Typing speed (characters a second) <input name="humanize.charsPerSecond" type="number" step="0.5" min="1" value="{{charsPerSecond}}" data-type="number"></label>
        <label>Typing at least (ms) <input name="humanize.typingMinMs" type="number" min="0" value="{{typingMinMs}}" data-type="int"></label>
        <label>Typing at most (ms) <input name="humanize.typingMaxMs" type="number" min="0" value="{{typingMaxMs}}" data-type="int"></label>
        <label>Pause before sending (ms) <input name="humanize.pauseMs" type="number" min="0" value="{{pauseMs}}" data-type="int"></label>
        <label>Gap between messages to one chat (ms) <input name="humanize.gapMs" type="number" min="0" value="{{gapMs}}" data-type="int"></label>
        <label>Messages a minute per session at most <input name="humanize.maxPerMinute" type="number" min="1" value="{{maxPerMinute}}" data-type="int"></label>
        {{/humanize}}</fieldset>
        <button type="submit">Save settings</button></form></section>
        <h2>API keys</h2>
        <table id="keys"><thead><tr><th>Name</th><th>Key</th><th>Created</th><th>Last used</th><th></th></tr></thead><tbody>
        {{#keys}}<tr><td>{{name}}</td><td class="mono">{{prefix}}…</td><td>{{created}}</td><td>{{lastUsed}}</td>
        <td class="actions"><form data-api="/v1/keys/{{id}}" data-method="DELETE" data-confirm="Revoke key “{{name}}”? Requests using it fail at once.">{{>csrf}}<button class="danger" type="submit">Revoke</button></form></td></tr>{{/keys}}
        {{^keys}}<tr><td colspan="5" class="muted">No API keys.</td></tr>{{/keys}}
        </tbody></table>
        <section><form class="inline" data-api="/v1/keys" data-then="show" data-show="#new-key" data-field="key" id="create-key">{{>csrf}}
        <label>Name <input name="name" required maxlength="100" placeholder="n8n"></label><button type="submit">Create key</button></form>
        <p class="muted">The key is shown once, here; copy it now. Reload the page to see it in the list.</p>
        <output id="new-key" class="mono" hidden></output></section>
        {{/page}}{{/content}}{{/layout}}
        """

    static let tenantMessages = """
        {{<layout}}{{$content}}{{#page}}
        <section><h2>Send a test message</h2>
        {{#hasSessions}}<form class="stack" data-api="/v1/sessions/{sessionId}/messages" data-then="show" data-show="#send-result" id="send-message">{{>csrf}}
        <label>Session <select name="sessionId">{{#sessions}}<option value="{{id}}">{{name}} ({{status}})</option>{{/sessions}}</select></label>
        <label>To (phone number or chat id) <input name="chatId" required placeholder="4915112345678"></label>
        <label>Text <textarea name="text" required rows="3"></textarea></label>
        <label class="check"><input type="checkbox" name="humanize" checked> Humanize (read, typing…, pause)</label>
        <button type="submit">Queue message</button></form><output id="send-result" class="mono" hidden></output>{{/hasSessions}}
        {{^hasSessions}}<p class="muted">Create a session first.</p>{{/hasSessions}}</section>
        <h2>Jobs</h2>
        <table id="jobs"><thead><tr><th>Job</th><th>Session</th><th>To</th><th>Type</th><th>Status</th><th>Attempts</th><th>Created</th><th>Sent</th></tr></thead><tbody>
        {{#jobs}}<tr><td class="mono">{{id}}</td><td>{{sessionName}}</td><td class="mono">{{chatId}}</td><td>{{type}}</td>
        <td><span class="status {{status}}">{{status}}</span>{{#error}}<div class="bad">{{error}}</div>{{/error}}</td><td>{{attempts}}</td><td>{{created}}</td><td>{{sent}}</td></tr>{{/jobs}}
        {{^jobs}}<tr><td colspan="8" class="muted">No jobs yet.</td></tr>{{/jobs}}
        </tbody></table>
        {{/page}}{{/content}}{{/layout}}
        """
}
