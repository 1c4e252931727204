"""The Lua scripts that keep and query the index inside Valkey (one round trip each).

Key layout under ``P = <key prefix>:search``:

* ``P:gen`` the live generation, ``P:building`` one being rebuilt, ``P:cv`` the cache
  version (bumped by every applied change), ``P:c:<cv>:<query>`` cached bodies.
* ``P:g<gen>:`` + ``p:<fam>:<token>`` postings (zset id -> field weight), ``v:<fam>`` the
  vocabulary (lex zset), ``d:<fam>`` the deletion neighbourhood of vocabulary words
  (SymSpell; a hash deletion -> space-separated words), ``m:<space>`` per-document
  metadata (revision, what was indexed),
  ``doc:*``/``acd:*`` hashes of the JSON bodies served, ``prov:u``/``cat:*`` sets,
  ``f:<field>`` sort/filter zsets, ``ac:*`` lexicographic autocomplete zsets.

Deletion neighbourhoods work on bytes: exact for ASCII (every Latin word once accents
are stripped), conservative for other scripts.
"""

from __future__ import annotations

_COMMON = r"""
local P = ARGV[1]
local function deletes(w, depth, out)
  local layer = {w}
  for _ = 1, depth do
    local nxt = {}
    for _, s in ipairs(layer) do
      for i = 1, #s do
        local t = s:sub(1, i - 1) .. s:sub(i + 1)
        if not out[t] then out[t] = true; nxt[#nxt + 1] = t end
      end
    end
    layer = nxt
  end
  return out
end
local function depth_of(w)
  if #w >= 7 then return 2 elseif #w >= 4 then return 1 end
  return 0
end
local function dadd(key, del, tok)
  local cur = redis.call('HGET', key, del)
  if not cur then
    redis.call('HSET', key, del, tok)
  elseif not string.find(' ' .. cur .. ' ', ' ' .. tok .. ' ', 1, true) then
    redis.call('HSET', key, del, cur .. ' ' .. tok)
  end
end
local function drem(key, del, tok)
  local cur = redis.call('HGET', key, del)
  if not cur then return end
  local keep = {}
  for w in string.gmatch(cur, '%S+') do if w ~= tok then keep[#keep + 1] = w end end
  if #keep == 0 then
    redis.call('HDEL', key, del)
  else
    redis.call('HSET', key, del, table.concat(keep, ' '))
  end
end
local function split(k)
  local i = string.find(k, ':', 1, true)
  return k:sub(1, i - 1), k:sub(i + 1)
end
"""

APPLY = (
    _COMMON
    + r"""
-- ARGV: P, target ('live' or a generation), space, id, revision, payload json ('' = deleted)
local gens = {}
if ARGV[2] == 'live' then
  local g = redis.call('GET', P .. ':gen') or '1'
  gens[1] = g
  local b = redis.call('GET', P .. ':building')
  if b and b ~= g then gens[2] = b end
else
  gens[1] = ARGV[2]
end
local space, id, rev = ARGV[3], ARGV[4], tonumber(ARGV[5])
local new = nil
if ARGV[6] ~= '' then new = cjson.decode(ARGV[6]) end

local function unindex(G, old)
  for k, _ in pairs(old.t or {}) do
    local key = G .. 'p:' .. k
    redis.call('ZREM', key, id)
    if redis.call('EXISTS', key) == 0 then
      local fam, tok = split(k)
      redis.call('ZREM', G .. 'v:' .. fam, tok)
      for del, _ in pairs(deletes(tok, depth_of(tok), {})) do drem(G .. 'd:' .. fam, del, tok) end
    end
  end
  for set, members in pairs(old.a or {}) do
    for _, m in ipairs(members) do redis.call('ZREM', G .. set, m) end
  end
  for _, set in ipairs(old.s or {}) do redis.call('ZREM', G .. set, id) end
  for f, _ in pairs(old.f or {}) do redis.call('ZREM', G .. 'f:' .. f, id) end
  for h, _ in pairs(old.d or {}) do redis.call('HDEL', G .. h, id) end
end

local function index(G, doc)
  for k, w in pairs(doc.t) do
    redis.call('ZADD', G .. 'p:' .. k, w, id)
    local fam, tok = split(k)
    if redis.call('ZADD', G .. 'v:' .. fam, 0, tok) == 1 then
      for del, _ in pairs(deletes(tok, depth_of(tok), {})) do dadd(G .. 'd:' .. fam, del, tok) end
    end
  end
  for set, members in pairs(doc.a) do
    for _, m in ipairs(members) do redis.call('ZADD', G .. set, 0, m) end
  end
  for _, set in ipairs(doc.s) do redis.call('ZADD', G .. set, 0, id) end
  for f, v in pairs(doc.f) do redis.call('ZADD', G .. 'f:' .. f, v, id) end
  local names = {}
  for h, body in pairs(doc.d) do redis.call('HSET', G .. h, id, body); names[h] = 1 end
  return {r = rev, t = doc.t, a = doc.a, s = doc.s, f = doc.f, d = names}
end

local applied = 0
for _, g in ipairs(gens) do
  local G = P .. ':g' .. g .. ':'
  local mkey = G .. 'm:' .. space
  local raw = redis.call('HGET', mkey, id)
  local old = nil
  if raw then old = cjson.decode(raw) end
  if old == nil or (not old.dead and (new == nil or old.r < rev)) then
    if old then unindex(G, old) end
    local meta
    if new then meta = index(G, new) else meta = {r = rev, dead = true} end
    redis.call('HSET', mkey, id, cjson.encode(meta))
    applied = applied + 1
  end
  if g ~= gens[1] then  -- a generation being built: re-applied from the source before swap
    redis.call('SADD', G .. 'dirty', space .. ':' .. id)
  end
end
if applied > 0 and ARGV[2] == 'live' then redis.call('INCR', P .. ':cv') end
return applied
"""
)

_CACHE = r"""
local ck = nil
if ARGV[2] ~= '' then
  ck = P .. ':c:' .. (redis.call('GET', P .. ':cv') or '0') .. ':' .. ARGV[2]
  local hit = redis.call('GET', ck)
  if hit then return hit end
end
local G = P .. ':g' .. (redis.call('GET', P .. ':gen') or '1') .. ':'
local function finish(body)
  if ck and tonumber(ARGV[3]) > 0 then redis.call('SET', ck, body, 'EX', ARGV[3]) end
  return body
end
local function bodies(hash, ids)
  if #ids == 0 then return '' end
  local out = {}
  for _, b in ipairs(redis.call('HMGET', G .. hash, unpack(ids))) do
    if b then out[#out + 1] = b end
  end
  return table.concat(out, ',')
end
"""

SEARCH = (
    _COMMON
    + _CACHE
    + r"""
-- ARGV: P, cache key ('' = none), ttl, query json, body tail
local q = cjson.decode(ARGV[4])
local EXACT, PREFIX, TYPO1, TYPO2 = 16, 4, 1, 0.5

local function osa(a, b, k)
  local la, lb = #a, #b
  if math.abs(la - lb) > k then return k + 1 end
  local prev2, prev, cur = {}, {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    cur = {[0] = i}
    local best = i
    for j = 1, lb do
      local cost = (a:byte(i) == b:byte(j)) and 0 or 1
      local v = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        v = math.min(v, prev2[j - 2] + 1)
      end
      cur[j] = v
      if v < best then best = v end
    end
    if best > k then return k + 1 end
    prev2, prev = prev, cur
  end
  return prev[lb]
end

local function word_keys(wd, keys, weights)
  local seen = {}
  for _, fam in ipairs(q.fams) do
    local vocab = G .. 'v:' .. fam
    local function add(tok, weight)
      local k = G .. 'p:' .. fam .. ':' .. tok
      if not seen[k] then seen[k] = true; keys[#keys + 1] = k; weights[#weights + 1] = weight end
    end
    if redis.call('ZSCORE', vocab, wd.w) then add(wd.w, EXACT) end
    if wd.pre then
      local words = redis.call('ZRANGEBYLEX', vocab, '[' .. wd.w, '[' .. wd.w .. '\255',
        'LIMIT', 0, q.cap)
      for _, tok in ipairs(words) do add(tok, PREFIX) end
    end
    if wd.k > 0 then
      local fields, cands = {wd.w}, {}
      for del, _ in pairs(deletes(wd.w, wd.k, {})) do
        fields[#fields + 1] = del
        if redis.call('ZSCORE', vocab, del) then cands[#cands + 1] = del end
      end
      for _, words in ipairs(redis.call('HMGET', G .. 'd:' .. fam, unpack(fields))) do
        if words then
          for tok in string.gmatch(words, '%S+') do cands[#cands + 1] = tok end
        end
      end
      for _, tok in ipairs(cands) do
        local dist = osa(wd.w, tok, wd.k)
        if dist == 1 then add(tok, TYPO1) elseif dist == 2 and wd.k == 2 then add(tok, TYPO2) end
      end
    end
  end
end

local temps = {}
local inter, iw = {}, {}
for i, wd in ipairs(q.words) do
  local keys, weights = {}, {}
  word_keys(wd, keys, weights)
  if #keys == 0 then
    if q.nototal then return finish('{"items":[]' .. ARGV[5]) end
    return finish('{"items":[],"total":0' .. ARGV[5])
  end
  if #keys == 1 then
    inter[#inter + 1] = keys[1]  -- scores are field weights: the same order
  else
    local t = P .. ':tmp:w' .. i
    temps[#temps + 1] = t
    local args = {'ZUNIONSTORE', t, #keys}
    for _, k in ipairs(keys) do args[#args + 1] = k end
    args[#args + 1] = 'WEIGHTS'
    for _, w in ipairs(weights) do args[#args + 1] = w end
    args[#args + 1] = 'AGGREGATE'; args[#args + 1] = 'MAX'
    redis.call(unpack(args))
    inter[#inter + 1] = t
  end
  iw[#iw + 1] = 1
end
for _, s in ipairs(q.sets) do inter[#inter + 1] = G .. s; iw[#iw + 1] = 0 end
-- r: the candidates scored by relevance (a posting itself when there is one word, no set)
local r, scored_by = inter[1], ''
if #inter == 0 then  -- no words, no category: every active service, by a sort field
  r = G .. 'f:' .. q.all
  scored_by = q.all
elseif #inter > 1 then
  r = P .. ':tmp:r'
  temps[#temps + 1] = r
  local args = {'ZINTERSTORE', r, #inter}
  for _, k in ipairs(inter) do args[#args + 1] = k end
  args[#args + 1] = 'WEIGHTS'
  for _, w in ipairs(iw) do args[#args + 1] = w end
  redis.call(unpack(args))
end
-- filtered: r within every range, scored by the last range's field
local filtered = r
for _, rg in ipairs(q.ranges) do
  local tf = P .. ':tmp:f'
  temps[#temps + 1] = tf
  redis.call('ZINTERSTORE', tf, 2, filtered, G .. 'f:' .. rg[1], 'WEIGHTS', 0, 1)
  redis.call('ZREMRANGEBYSCORE', tf, '-inf', '(' .. rg[2])
  redis.call('ZREMRANGEBYSCORE', tf, '(' .. rg[3], '+inf')
  filtered, scored_by = tf, rg[1]
end
local order = filtered
if q.sort ~= scored_by then
  order = P .. ':tmp:s'
  temps[#temps + 1] = order
  local by = r
  if q.sort ~= '' then by = G .. 'f:' .. q.sort end
  redis.call('ZINTERSTORE', order, 2, filtered, by, 'WEIGHTS', 0, 1)
end
local total = redis.call('ZCARD', filtered)
local ids
if q.desc then
  ids = redis.call('ZREVRANGE', order, q.off, q.off + q.n - 1)
else
  ids = redis.call('ZRANGE', order, q.off, q.off + q.n - 1)
end
local items = bodies(q.doc, ids)
if #temps > 0 then redis.call('DEL', unpack(temps)) end
if q.nototal then return finish('{"items":[' .. items .. ']' .. ARGV[5]) end
return finish('{"items":[' .. items .. '],"total":' .. total .. ARGV[5])
"""
)

AUTOCOMPLETE = (
    _COMMON
    + _CACHE
    + r"""
-- ARGV: P, cache key, ttl, text, limit, doc hash, body tail, lex sets...
local text, n = ARGV[4], tonumber(ARGV[5])
local ids, seen = {}, {}
for i = 8, #ARGV do
  if #ids >= n then break end
  local ms = redis.call('ZRANGEBYLEX', G .. ARGV[i], '[' .. text, '[' .. text .. '\255',
    'LIMIT', 0, n * 4)
  for _, m in ipairs(ms) do
    local id = m:sub(string.find(m, '\1', 1, true) + 1)
    if not seen[id] then
      seen[id] = true
      ids[#ids + 1] = id
      if #ids >= n then break end
    end
  end
end
if #ids == 0 then return nil end
return finish('{"items":[' .. bodies(ARGV[6], ids) .. ']' .. ARGV[7])
"""
)

SWAP = r"""
-- ARGV: P, new generation. Makes it live; returns the previous one.
local P = ARGV[1]
if redis.call('SCARD', P .. ':g' .. ARGV[2] .. ':dirty') > 0 then return nil end
local old = redis.call('GET', P .. ':gen') or '1'
redis.call('SET', P .. ':gen', ARGV[2])
redis.call('DEL', P .. ':building')
redis.call('INCR', P .. ':cv')
return old
"""
