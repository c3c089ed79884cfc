//! The Lua scripts that make the shared level's steps atomic in Redis. Each touches only keys
//! it is given, all in the deployment's namespace (one hash slot: they run on a Redis Cluster
//! too).

use std::sync::LazyLock;

use ::redis::Script;

/// Stores one entry unless an invalidation of one of its tags came after its fill started.
///
/// `KEYS[1]` the entry, `KEYS[2]` the floor generation, `KEYS[3..2+n]` the tags' last
/// invalidation generations, `KEYS[3+n..2+2n]` the tags' member sets; `ARGV[1]` the value,
/// `ARGV[2]` how long to keep it (ms), `ARGV[3]` the generation its fill started at, `ARGV[4]`
/// `n`. Returns 1 when stored, 0 when an invalidation overtook the fill.
pub static STORE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = tonumber(ARGV[4])
local started = tonumber(ARGV[3])
local floor = tonumber(redis.call('GET', KEYS[2]) or '0')
if floor > started then return 0 end
for i = 1, n do
  local invalidated = redis.call('GET', KEYS[2 + i])
  if invalidated and tonumber(invalidated) > started then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 1, n do
  local members = KEYS[2 + n + i]
  redis.call('SADD', members, KEYS[1])
  if redis.call('PTTL', members) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', members, ARGV[2])
  end
end
return 1
"#,
    )
});

/// Invalidates tags: a new generation, recorded per tag (so a fill that started before it is
/// not stored), and every entry holding one of them deleted.
///
/// `KEYS[1]` the generation counter, `KEYS[2..1+n]` the tags' generations, `KEYS[2+n..1+2n]`
/// their member sets; `ARGV[1]` `n`, `ARGV[2]` how long a tag's generation is kept (ms).
/// Returns the new generation.
pub static INVALIDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local n = tonumber(ARGV[1])
local generation = redis.call('INCR', KEYS[1])
for i = 1, n do
  redis.call('SET', KEYS[1 + i], generation, 'PX', ARGV[2])
  local members = KEYS[1 + n + i]
  for _, entry in ipairs(redis.call('SMEMBERS', members)) do
    redis.call('DEL', entry)
  end
  redis.call('DEL', members)
end
return generation
"#,
    )
});

/// Makes every entry stored so far stale: a new generation, which becomes the floor.
///
/// `KEYS[1]` the generation counter, `KEYS[2]` the floor. Returns the new generation.
pub static FLOOR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local generation = redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], generation)
return generation
"#,
    )
});

/// Extends a lease (`PEXPIRE`) only while it is still this holder's.
///
/// `KEYS[1]` the lease; `ARGV[1]` the holder's token, `ARGV[2]` the new lifetime (ms).
pub static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#,
    )
});

/// Releases a lease only while it is still this holder's.
///
/// `KEYS[1]` the lease; `ARGV[1]` the holder's token.
pub static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#,
    )
});
