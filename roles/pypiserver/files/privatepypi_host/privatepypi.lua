-- nginx's share of the index (ngx_lua): PEP 691 negotiation, the verdict cache in front of the
-- credential service, and the health answer. nginx-site.conf.j2 loads it once (init_by_lua_block)
-- with the host's settings and calls it from its locations; the lint stage runs luacheck on it.
local M = {}

-- PEP 691 negotiation: highest q wins (first on a tie), HTML if Accept is absent, else nil (406).
local V = "application/vnd.pypi.simple."
local TYPES = {
    [V .. "v1+json"] = {"json", V .. "v1+json"}, [V .. "latest+json"] = {"json", V .. "v1+json"},
    [V .. "v1+html"] = {"html", V .. "v1+html"}, [V .. "latest+html"] = {"html", V .. "v1+html"},
    ["text/html"] = {"html", "text/html"}, ["text/*"] = {"html", "text/html"}, ["*/*"] = {"html", "text/html"},
}
local ACCEPTABLE = "Acceptable: application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html, text/html"

function M.negotiate(accept)
    if accept == nil or accept == "" then return TYPES["text/html"] end
    local best, best_q = nil, 0
    for part in string.gmatch(accept, "[^,]+") do
        local media, params = string.match(part, "^%s*([^;%s]+)%s*(.*)$")
        if media then
            local q = tonumber(string.match(params, ";%s*[qQ]%s*=%s*([0-9.]+)") or "1") or 0
            local choice = TYPES[string.lower(media)]
            if choice and q > best_q then
                best, best_q = choice, q
            end
        end
    end
    return best
end

-- publisher: a token minted by trusted publishing (oidc.py), upload only, never a read
local ROLES = {reader = true, uploader = true, admin = true, publisher = true}
local UPLOAD_ONLY = "an upload token minted by trusted publishing cannot read the index"
local settings       -- M.configure's: ports, limits and paths of this host
local secret         -- drawn from /dev/urandom when nginx (re)loads its configuration
local verdicts, failures, health
local pending = 0  -- per worker process: a crashed worker takes its count with it
local generation = nil  -- per worker: the credential files' generation it keys verdicts to
local generation_pads = nil  -- HMAC key of that generation, as its two padded blocks (M.hmac_pads)

-- HMAC-SHA1 (RFC 2104) on nginx's own SHA-1 (ngx.sha1_bin). ngx.hmac_sha1 calls OpenSSL 3's one-shot
-- HMAC(), which looks the algorithm up in its provider and makes and frees a context on every call:
-- measured, 9 % of an nginx worker's time per cached file answer (about 6 us of 70); this, with the
-- padded key blocks made once per generation, 0.3 %. Same digest (tests/unit: test_lua_hmac.py).
local BLOCK = 64  -- SHA-1's block size
local function xor_byte(a, b)  -- Lua 5.1 arithmetic: the pads are made once per generation
    local result, place = 0, 1
    while a > 0 or b > 0 do
        if a % 2 ~= b % 2 then result = result + place end
        a, b, place = math.floor(a / 2), math.floor(b / 2), place * 2
    end
    return result
end

function M.hmac_pads(key)
    if #key > BLOCK then key = ngx.sha1_bin(key) end
    key = key .. string.rep("\0", BLOCK - #key)
    local inner, outer = {}, {}
    for i = 1, BLOCK do
        inner[i] = string.char(xor_byte(string.byte(key, i), 0x36))
        outer[i] = string.char(xor_byte(string.byte(key, i), 0x5c))
    end
    return {table.concat(inner), table.concat(outer)}
end

function M.hmac_sha1(pads, message)
    local sha1_bin = ngx.sha1_bin
    return sha1_bin(pads[2] .. sha1_bin(pads[1] .. message))
end

-- Verdict cache. The key is HMAC-SHA1 of the Authorization header under a key derived from the
-- credential files' generation and a secret drawn from /dev/urandom when nginx (re)loads its
-- configuration: shared memory never holds the header nor a digest anyone could test guesses
-- against. The generation comes from the credential service (M.generation below): when the files
-- change, every verdict of the old generation is out of reach within two seconds, so a removed
-- user, a revoked token or a downgraded role acts on every path at once; the service still knows
-- the unchanged accounts, so refilling costs no bcrypt. Only allowing verdicts are kept (tokens'
-- too, never past their expiry), so a flood of wrong credentials adds nothing and evicts nobody.
--
-- Back-off per client address: after failure_limit refused credentials within failure_window
-- seconds, its new credentials get 429 until the window ends, without a check (cached verdicts
-- are still answered).
function M.configure(host)
    settings = host
    local urandom = assert(io.open("/dev/urandom", "rb"))
    secret = urandom:read(32)
    urandom:close()
    assert(secret and #secret == 32, "privatepypi: no random secret for the verdict cache")
    verdicts = ngx.shared.privatepypi_verdicts
    failures = ngx.shared.privatepypi_failures
    -- what nginx knows of the credential service: answering (health), every slot busy (a moment)
    health = ngx.shared.privatepypi_health
    return M
end

-- Once a second in every worker; one of them asks the service (a request without credentials,
-- which costs it no check) and a new generation empties the cache for all.
function M.generation(premature)
    if premature then return end
    if health:add("generation_probe", true, 0.9) then
        local sock = ngx.socket.tcp()
        sock:settimeout(500)
        local seen
        if sock:connect("127.0.0.1", settings.auth_port)
                and sock:send("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n") then
            while true do
                local line = sock:receive("*l")
                if not line or line == "" then break end
                seen = string.match(line, "^[Xx]%-[Pp]rivatepypi%-[Gg]eneration: *(%S+)") or seen
            end
        end
        sock:close()
        if seen and seen ~= health:get("generation") then
            health:set("generation", seen)
            verdicts:flush_all()
        end
    end
    local current = health:get("generation")
    if current ~= generation then
        generation_pads = current and M.hmac_pads(M.hmac_sha1(M.hmac_pads(secret), current))
        generation = current
    end
end

function M.start_worker()
    ngx.timer.at(0, M.generation)
    ngx.timer.every(1, M.generation)
end

local function refuse(status, retry_after, text)
    if status == 401 then
        ngx.header["WWW-Authenticate"] = 'Basic realm="pypiserver"'
    end
    if retry_after then
        ngx.header["Retry-After"] = retry_after
    end
    if text then
        ngx.status = status
        ngx.header["Content-Type"] = "text/plain"
        ngx.say(text)
    end
    return ngx.exit(status)
end

local function single(value, default)
    if type(value) == "table" then return nil end
    return value or default
end

-- proxied: the request goes on to pypiserver. write: it changes the index (an upload): who asks
-- goes with it (the upload middleware decides). Reads of static files take the short path: one
-- HMAC and one lookup (nginx itself refuses a repeated Authorization header with 400).
function M.authorize(write, proxied)
    if proxied then
        -- the verdict headers come from the credential service only, never from the client
        for name in pairs(ngx.req.get_headers(0)) do
            if string.sub(name, 1, 14) == "x-privatepypi-" then
                ngx.req.clear_header(name)
            end
        end
    end
    local header = ngx.var.http_authorization
    if header == nil or header == "" then
        return refuse(401)
    end
    local key = generation_pads and M.hmac_sha1(generation_pads, header)
    local verdict = key and verdicts:get(key)
    local user, role, projects, token
    if verdict then
        if not write then
            -- the role is the second line (a project pattern "publisher" on the third must not count)
            if string.find(verdict, "^[^\n]*\npublisher\n") then
                return refuse(403, nil, UPLOAD_ONLY)
            end
            return
        end
        user, role, projects, token = string.match(verdict, "^([^\n]*)\n([^\n]*)\n([^\n]*)\n([^\n]*)$")
    else
        local address = ngx.var.binary_remote_addr
        local failed = failures:get(address)
        if failed and failed >= settings.failure_limit then
            local _, left = failures:ttl(address)
            return refuse(429, tostring(math.max(1, math.ceil(left or 1))), "too many failed logins, retry later")
        end
        -- Bounded work: beyond this many credential checks waiting in this worker, or while the
        -- service has just said that every slot is busy, the answer is 503 at once; a flood of new
        -- credentials cannot queue up work without end, nor keep the service answering it.
        if pending >= settings.pending_max or health:get("slow_checks_busy") then
            return refuse(503, "1", "too many credential checks in progress")
        end
        pending = pending + 1
        local answer = ngx.location.capture("/_auth")
        pending = pending - 1
        local status = answer.status
        if status == 200 or status == 204 then
            local h = answer.header
            user = single(h["X-Privatepypi-User"], "")
            -- the credential service names the role of every account; an answer without one may read only
            role = single(h["X-Privatepypi-Role"], "reader")
            projects = single(h["X-Privatepypi-Projects"], "")
            token = single(h["X-Privatepypi-Token"], "")
            if not (user and role and projects and token) or not ROLES[role] then
                ngx.log(ngx.ERR, "privatepypi: the credential service sent a malformed verdict")
                return refuse(503, "2")
            end
            -- Kept only when the service answered for the generation the key names, and no longer
            -- than it says (a token ends at its expiry) nor than this host's lifetime. Never for
            -- less than a second: a shared dict keeps an entry set with 0 for ever.
            local keep = math.min(settings.verdict_ttl, tonumber(single(h["X-Privatepypi-Expires"], "")) or 0)
            if key and single(h["X-Privatepypi-Generation"], "") == generation and keep >= 1 then
                verdicts:set(key, table.concat({user, role, projects, token}, "\n"), keep)
            end
        elseif status == 401 then
            failures:incr(address, 1, 0, settings.failure_window)
            return refuse(401)
        elseif status == 429 or status == 503 then
            local retry_after = single(answer.header["Retry-After"], "1") or "1"
            if status == 429 then
                -- The service's back-off for this address is applied here until it ends. A user
                -- name out of wrong guesses concerns this request only: never the address, which
                -- may be the user's own, with its tokens.
                if single(answer.header["X-Privatepypi-Backoff"], "") == "address" then
                    failures:set(address, settings.failure_limit, math.min(tonumber(retry_after) or 1, 3600))
                end
            else
                -- every slot is busy: new credentials get 503 here for a moment, unasked
                health:set("slow_checks_busy", true, settings.busy_seconds)
            end
            return refuse(status, retry_after)
        else
            ngx.log(ngx.ERR, "privatepypi: the credential service answered ", status)
            return refuse(503, "2", "credential service unavailable")
        end
    end
    if not write and role == "publisher" then
        return refuse(403, nil, UPLOAD_ONLY)
    end
    if write then
        -- Who asks goes with the request; the upload middleware refuses a reader or a project
        -- outside the patterns (403 with the reason) and writes the audit record of it.
        ngx.req.set_header("X-Privatepypi-User", user)
        ngx.req.set_header("X-Privatepypi-Role", role)
        ngx.req.set_header("X-Privatepypi-Projects", projects)
        ngx.req.set_header("X-Privatepypi-Token", token)
    end
end

-- /simple/ and /simple/<normalized name>/: a name not normalized is redirected (301), the page
-- is chosen by negotiation (406 when nothing acceptable is asked for). Sets the location's
-- $pypi_page (the file) and $pypi_type (its media type), and the Content-Type: the static module
-- (and gzip_static) keep a Content-Type set before them, and an error page sets its own: no
-- header filter, one Lua phase per request.
function M.simple_page(authenticate)
    if authenticate then
        M.authorize(false)
    end
    local name = string.match(ngx.var.uri, "^/simple/?([^/]*)/?$")
    if name == nil then
        return ngx.exit(404)
    end
    local normalized = string.gsub(string.lower(name), "[-_.]+", "-")
    local wanted = "/simple/" .. (normalized ~= "" and normalized .. "/" or "")
    if wanted ~= ngx.var.uri then
        local args = ngx.var.args
        return ngx.redirect(wanted .. (args and "?" .. args or ""), 301)
    end
    local format = ngx.var.arg_format and (string.gsub(ngx.unescape_uri(ngx.var.arg_format), " ", "+"))
    local choice = M.negotiate(format or ngx.var.http_accept)
    if choice == nil then
        ngx.status = 406
        ngx.header["Content-Type"] = "text/plain"
        ngx.say(ACCEPTABLE)
        return ngx.exit(406)
    end
    ngx.var.pypi_page = wanted .. "index." .. choice[1]
    ngx.var.pypi_type = choice[2]
    ngx.header["Content-Type"] = choice[2]
end

-- Everything else: uploads go on to pypiserver with who asks; reads never reach it (its own pages
-- walk the whole store per request or check a password again): / leads to /simple/, the rest is 404.
function M.upload_or_nothing(authenticate_reads)
    local method = ngx.req.get_method()
    if method == "GET" or method == "HEAD" then
        if authenticate_reads then
            M.authorize(false)
        end
        if ngx.var.uri == "/" then
            return ngx.redirect("/simple/", 301)
        end
        return ngx.exit(404)
    end
    M.authorize(true, true)
end

-- Health: this instance can serve reads. Never through pypiserver, so uploads cannot starve it.
local function credential_service_answers()
    local known = health:get("credentials")
    if known ~= nil then return known end
    local answered = false
    local sock = ngx.socket.tcp()
    sock:settimeout(500)
    if sock:connect("127.0.0.1", settings.auth_port) then
        -- no credentials: a working service refuses them (401) without hashing anything
        if sock:send("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n") then
            local line = sock:receive("*l")
            answered = line ~= nil and string.match(line, "^HTTP/1%.[01] 401 ") ~= nil
        end
    end
    sock:close()
    health:set("credentials", answered, 1)
    return answered
end

local function store_readable()
    if settings.store_is_a_mount then
        -- not mounted, the mount point is an empty directory of the root disk
        local mounts = io.open("/proc/self/mountinfo", "r")
        local found = false
        if mounts then
            for line in mounts:lines() do
                if string.match(line, "^%S+ %S+ %S+ %S+ (%S+) ") == settings.packages_dir then
                    found = true
                    break
                end
            end
            mounts:close()
        end
        if not found then return false end
    end
    local dir = io.open(settings.packages_dir, "r")
    if not dir then return false end
    dir:close()
    return true
end

local function renderer_current()
    local f = io.open(settings.pages_dir .. "/status.json", "r")
    local status = f and f:read("*a") or ""
    if f then f:close() end
    local heartbeat = tonumber(string.match(status, '"heartbeat": *(%d+)'))
    return string.find(status, '"ready": *true') ~= nil and heartbeat ~= nil and ngx.time() - heartbeat <= 30
end

function M.health()
    local problem
    if not store_readable() then
        problem = "package store not mounted or not readable"
    elseif not renderer_current() then
        problem = "index not rendered yet, or renderer stuck"
    elseif not credential_service_answers() then
        problem = "credential service not answering"
    end
    ngx.status = problem and 503 or 200
    ngx.header["Content-Type"] = "text/plain"
    ngx.header["Cache-Control"] = "no-store"
    ngx.say(problem or "ok")
    return ngx.exit(ngx.status)
end

return M
