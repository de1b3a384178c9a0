-- luacheck (the lint stage): nginx's Lua runs in ngx_lua (LuaJIT, Lua 5.1 with ngx.*)
std = "ngx_lua"
max_line_length = 120
-- wrk's scripts (the benchmark) define its hooks as globals and read its wrk table
files["benchmarks"] = {
  std = "luajit",
  globals = {"wrk", "init", "setup", "request", "response", "done", "delay"},
  unused_args = false,  -- the hooks' signatures are wrk's
}
