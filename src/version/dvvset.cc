// Dotted Version Vector Sets: see dvvset.h for the contract.
#include "version/dvvset.h"

#include <algorithm>
#include <array>
#include <limits>

#include "common/errors.h"

namespace dynis::version {

namespace {

// ---- varints (LEB128, canonical) -------------------------------------------------------------

void PutVarint(std::string* out, uint64_t v) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

// Reads from a byte cursor; every read is bounds-checked and failure is sticky, so decoders can
// read a whole record and check ok() once.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return in_.size() - pos_; }
  bool AtEnd() const { return pos_ == in_.size(); }
  void Fail() { ok_ = false; }

  uint8_t Byte() {
    if (!ok_ || pos_ >= in_.size()) {
      Fail();
      return 0;
    }
    return static_cast<uint8_t>(in_[pos_++]);
  }

  // Rejects overlong encodings (> 10 bytes, bits beyond 64, redundant trailing zero groups) so
  // that every value has exactly one encoding.
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const uint8_t b = Byte();
      if (!ok_) return 0;
      if (shift == 63 && b > 1) break;  // bits beyond 64
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        if (b == 0 && shift != 0) break;  // redundant zero group
        return v;
      }
    }
    Fail();
    return 0;
  }

  std::string_view Bytes(uint64_t n) {
    if (!ok_ || n > remaining()) {
      Fail();
      return std::string_view();
    }
    std::string_view s = in_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// ---- CRC32C (Castagnoli), table built at compile time ------------------------------------------

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

uint32_t Crc32c(std::string_view data) {
  uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) c = kCrcTable[(c ^ static_cast<uint8_t>(ch)) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// ---- version vectors -------------------------------------------------------------------------

bool IsNormal(const VersionVector& vv) {
  for (size_t i = 0; i < vv.size(); ++i) {
    if (vv[i].second == 0) return false;
    if (i > 0 && !(vv[i - 1].first < vv[i].first)) return false;
  }
  return true;
}

// Sorted, unique actors (max counter wins), no zero counters. Copies only when needed.
VersionVector Normalized(VersionVector vv) {
  if (IsNormal(vv)) return vv;
  std::sort(vv.begin(), vv.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  VersionVector out;
  for (const auto& [actor, n] : vv) {
    if (n == 0) continue;
    if (!out.empty() && out.back().first == actor) {
      out.back().second = std::max(out.back().second, n);
    } else {
      out.emplace_back(actor, n);
    }
  }
  return out;
}

const Sibling& LwwMax(const Sibling& a, const Sibling& b) { return LwwLess(a, b) ? b : a; }

constexpr uint8_t kFlagTombstone = 1;
constexpr uint8_t kFlagExpires = 2;
constexpr uint8_t kKnownFlags = kFlagTombstone | kFlagExpires;
// Smallest possible encodings, used to reject counts that the remaining bytes cannot hold
// before reserving anything.
constexpr size_t kMinEntryBytes = 5;  // node, epoch, counter, last_hlc, n_values
constexpr size_t kMinValueBytes = 5;  // gap, flags, hlc, writer, len
constexpr size_t kMinContextEntryBytes = 3;
constexpr uint8_t kContextV1 = 1;
constexpr size_t kCrcBytes = 4;

Status Corrupt(const char* what) { return Status::Corruption(std::string("dvvset: ") + what); }
Status BadContext() { return Status::InvalidArgument(err::kBadContext); }

}  // namespace

std::string Actor::ToString() const {
  return std::to_string(node_id) + "." + std::to_string(epoch);
}

bool LwwLess(const Sibling& a, const Sibling& b) {
  if (a.hlc != b.hlc) return a.hlc < b.hlc;
  if (a.writer != b.writer) return a.writer < b.writer;
  if (a.tombstone != b.tombstone) return !a.tombstone;  // on a tie the delete wins
  if (a.value != b.value) return a.value < b.value;
  return a.expire_at_ms < b.expire_at_ms;
}

// ---- DVVSet ----------------------------------------------------------------------------------

bool DVVSet::Empty() const {
  for (const Entry& e : entries_) {
    if (!e.values.empty()) return false;
  }
  return true;
}

VersionVector DVVSet::Join() const {
  VersionVector vv;
  vv.reserve(entries_.size());
  for (const Entry& e : entries_) vv.emplace_back(e.actor, e.counter);
  return vv;
}

void DVVSet::RaiseCounter(const Actor& actor, uint64_t at_least) {
  if (at_least == 0) return;
  auto it = std::lower_bound(entries_.begin(), entries_.end(), actor,
                             [](const Entry& e, const Actor& a) { return e.actor < a; });
  if (it != entries_.end() && it->actor == actor) {
    if (it->counter < at_least) {
      it->counter = at_least;
      it->last_hlc = 0;
    }
    return;
  }
  entries_.insert(it, Entry{actor, at_least, 0, {}});
}

uint64_t DVVSet::Update(const VersionVector& raw_ctx, Sibling v, const Actor& actor) {
  const VersionVector ctx = Normalized(raw_ctx);
  const uint64_t hlc = v.hlc;

  // Step 1 (riak: sync of the value-less context into the local set): drop values ctx covers,
  // raise counters to ctx's. A merge walk of two actor-sorted lists.
  std::vector<Entry> merged;
  merged.reserve(entries_.size() + ctx.size() + 1);
  size_t i = 0, j = 0;
  while (i < entries_.size() || j < ctx.size()) {
    if (j == ctx.size() || (i < entries_.size() && entries_[i].actor < ctx[j].first)) {
      merged.push_back(std::move(entries_[i++]));
    } else if (i == entries_.size() || ctx[j].first < entries_[i].actor) {
      // Seen by the client elsewhere: record it so those dots stay dead when they arrive. When
      // its newest dot was written is not known here (last_hlc 0).
      merged.push_back(Entry{ctx[j].first, ctx[j].second, 0, {}});
      ++j;
    } else {
      Entry e = std::move(entries_[i++]);
      const uint64_t seen = ctx[j++].second;
      // Values are newest-first, so the covered ones form a suffix.
      auto first_covered = std::find_if(e.values.begin(), e.values.end(),
                                        [seen](const DottedValue& d) { return d.counter <= seen; });
      e.values.erase(first_covered, e.values.end());
      if (seen > e.counter) {
        e.counter = seen;
        e.last_hlc = 0;
      }
      merged.push_back(std::move(e));
    }
  }
  entries_ = std::move(merged);

  // Step 2 (riak: event): mint the next dot for the coordinator.
  auto it = std::lower_bound(entries_.begin(), entries_.end(), actor,
                             [](const Entry& e, const Actor& a) { return e.actor < a; });
  if (it == entries_.end() || it->actor != actor) it = entries_.insert(it, Entry{actor, 0, 0, {}});
  it->counter += 1;
  it->last_hlc = hlc;
  it->values.insert(it->values.begin(), DottedValue{it->counter, std::move(v)});
  return it->counter;
}

void DVVSet::Sync(const DVVSet& other) {
  if (&other == this) return;  // idempotent, and the merge below moves out of entries_
  std::vector<Entry> merged;
  merged.reserve(entries_.size() + other.entries_.size());
  size_t i = 0, j = 0;
  const auto& theirs = other.entries_;
  while (i < entries_.size() || j < theirs.size()) {
    if (j == theirs.size() || (i < entries_.size() && entries_[i].actor < theirs[j].actor)) {
      merged.push_back(std::move(entries_[i++]));
    } else if (i == entries_.size() || theirs[j].actor < entries_[i].actor) {
      merged.push_back(theirs[j++]);
    } else {
      Entry& a = entries_[i++];
      const Entry& b = theirs[j++];
      // (counter, last_hlc) is the newest dot and when it was written: the larger pair wins
      // (a known time beats an unknown 0 for the same dot).
      const Entry& newer =
          std::make_pair(a.counter, a.last_hlc) < std::make_pair(b.counter, b.last_hlc) ? b : a;
      Entry e{a.actor, newer.counter, newer.last_hlc, {}};
      // A dot survives if both sides still hold it, or if the side lacking it has never seen it
      // (dot > that side's counter). A seen-but-absent dot was superseded or removed: stays dead.
      size_t x = 0, y = 0;
      while (x < a.values.size() || y < b.values.size()) {
        if (y == b.values.size() ||
            (x < a.values.size() && a.values[x].counter > b.values[y].counter)) {
          if (a.values[x].counter > b.counter) e.values.push_back(std::move(a.values[x]));
          ++x;
        } else if (x == a.values.size() || b.values[y].counter > a.values[x].counter) {
          if (b.values[y].counter > a.counter) e.values.push_back(b.values[y]);
          ++y;
        } else {
          // Same dot: the same write, so identical; LwwMax keeps Sync commutative regardless.
          e.values.push_back(
              DottedValue{a.values[x].counter, LwwMax(a.values[x].sibling, b.values[y].sibling)});
          ++x;
          ++y;
        }
      }
      merged.push_back(std::move(e));
    }
  }
  entries_ = std::move(merged);
}

std::vector<const Sibling*> DVVSet::Values() const {
  std::vector<const Sibling*> out;
  out.reserve(ValueCount());
  for (const Entry& e : entries_) {
    for (const DottedValue& d : e.values) out.push_back(&d.sibling);
  }
  return out;
}

size_t DVVSet::ValueCount() const {
  size_t n = 0;
  for (const Entry& e : entries_) n += e.values.size();
  return n;
}

const Sibling* DVVSet::LwwWinner() const {
  const Sibling* best = nullptr;
  for (const Entry& e : entries_) {
    for (const DottedValue& d : e.values) {
      if (best == nullptr || LwwLess(*best, d.sibling)) best = &d.sibling;
    }
  }
  return best;
}

void DVVSet::KeepLwwWinner() {
  const Sibling* winner = LwwWinner();
  if (winner == nullptr) return;
  const Sibling keep = *winner;
  bool kept = false;
  RemoveValuesIf([&](const Sibling& s) {
    if (!kept && s == keep) {
      kept = true;
      return false;
    }
    return true;
  });
}

uint64_t DVVSet::MaxHlc() const {
  uint64_t max = 0;
  for (const Entry& e : entries_) {
    max = std::max(max, e.last_hlc);
    for (const DottedValue& d : e.values) max = std::max(max, d.sibling.hlc);
  }
  return max;
}

size_t DVVSet::CountReusedDots(const DVVSet& incoming) const {
  size_t reused = 0;
  for (const Entry& theirs : incoming.entries_) {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), theirs.actor,
                               [](const Entry& e, const Actor& a) { return e.actor < a; });
    if (it == entries_.end() || it->actor != theirs.actor) continue;
    const Entry& mine = *it;
    for (const DottedValue& d : theirs.values) {
      if (d.counter > mine.counter) continue;  // not seen here: Sync keeps it
      auto held = std::find_if(mine.values.begin(), mine.values.end(),
                               [&d](const DottedValue& m) { return m.counter == d.counter; });
      if (held != mine.values.end()) {
        // One write has one time and writer (its value may since have become its tombstone).
        const Sibling& h = held->sibling;
        if (h.hlc != d.sibling.hlc || h.writer != d.sibling.writer) ++reused;
        continue;
      }
      // Seen, not held: superseded, legitimately only by a write that saw it. The newest dot
      // this side knows (mine.counter, written at mine.last_hlc) was then minted at or after
      // this one: the same write, or a later one with a later timestamp (an actor's clock only
      // moves forward). Unknown when the counter came from a client's context.
      if (mine.last_hlc == 0) continue;
      if (d.counter == mine.counter ? mine.last_hlc != d.sibling.hlc
                                    : mine.last_hlc < d.sibling.hlc) {
        ++reused;
      }
    }
  }
  return reused;
}

size_t DVVSet::Prune(size_t max_entries) {
  if (entries_.size() <= max_entries) return 0;
  std::vector<size_t> candidates;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].values.empty()) candidates.push_back(i);
  }
  std::sort(candidates.begin(), candidates.end(), [this](size_t a, size_t b) {
    const Entry& x = entries_[a];
    const Entry& y = entries_[b];
    return x.last_hlc != y.last_hlc ? x.last_hlc < y.last_hlc : x.actor < y.actor;
  });
  const size_t drop = std::min(candidates.size(), entries_.size() - max_entries);
  std::vector<bool> dropped(entries_.size(), false);
  for (size_t k = 0; k < drop; ++k) dropped[candidates[k]] = true;
  size_t kept = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (dropped[i]) continue;
    if (kept != i) entries_[kept] = std::move(entries_[i]);
    ++kept;
  }
  entries_.resize(kept);
  return drop;
}

// Format v1:
//   u8 format(=1) | varint n_entries | entry*
//   entry: varint node | varint epoch | varint counter | varint last_hlc | varint n_values | value*
//   value: varint gap | u8 flags | varint hlc | varint writer | [varint zigzag(expire)] |
//          varint len | bytes
// Dots are gap-coded newest-first: first dot = counter - gap, next = previous - 1 - gap.
// flags: 1 = tombstone, 2 = expire_at_ms present (nonzero).
std::string DVVSet::Encode() const {
  // One allocation: fixed fields are at most 5 varints per entry and 5 per value.
  size_t size = 11;
  for (const Entry& e : entries_) {
    size += 50;
    for (const DottedValue& d : e.values) size += 51 + d.sibling.value.size();
  }
  std::string out;
  out.reserve(size);
  out.push_back(static_cast<char>(kFormatV1));
  PutVarint(&out, entries_.size());
  for (const Entry& e : entries_) {
    PutVarint(&out, e.actor.node_id);
    PutVarint(&out, e.actor.epoch);
    PutVarint(&out, e.counter);
    PutVarint(&out, e.last_hlc);
    PutVarint(&out, e.values.size());
    uint64_t prev = e.counter + 1;
    for (const DottedValue& d : e.values) {
      PutVarint(&out, prev - 1 - d.counter);
      prev = d.counter;
      const Sibling& s = d.sibling;
      uint8_t flags = (s.tombstone ? kFlagTombstone : 0) | (s.expire_at_ms != 0 ? kFlagExpires : 0);
      out.push_back(static_cast<char>(flags));
      PutVarint(&out, s.hlc);
      PutVarint(&out, s.writer);
      if (s.expire_at_ms != 0) PutVarint(&out, ZigZag(s.expire_at_ms));
      PutVarint(&out, s.value.size());
      out.append(s.value);
    }
  }
  return out;
}

StatusOr<DVVSet> DVVSet::Decode(std::string_view bytes) {
  Reader r(bytes);
  const uint8_t format = r.Byte();
  if (!r.ok()) return Corrupt("empty input");
  if (format != kFormatV1) return Corrupt("unknown format");
  const uint64_t n_entries = r.Varint();
  if (!r.ok()) return Corrupt("truncated");
  if (n_entries > kMaxActors || n_entries > r.remaining() / kMinEntryBytes) {
    return Corrupt("bad entry count");
  }
  DVVSet set;
  set.entries_.reserve(static_cast<size_t>(n_entries));
  for (uint64_t k = 0; k < n_entries; ++k) {
    Entry e;
    e.actor.node_id = r.Varint();
    const uint64_t epoch = r.Varint();
    e.counter = r.Varint();
    e.last_hlc = r.Varint();
    const uint64_t n_values = r.Varint();
    if (!r.ok()) return Corrupt("truncated");
    e.actor.epoch = epoch;
    if (!set.entries_.empty() && !(set.entries_.back().actor < e.actor)) {
      return Corrupt("entries out of order");
    }
    if (e.counter == 0 || e.counter > kMaxCounter) return Corrupt("bad counter");
    if (n_values > e.counter || n_values > r.remaining() / kMinValueBytes) {
      return Corrupt("bad value count");
    }
    e.values.reserve(static_cast<size_t>(n_values));
    uint64_t prev = e.counter + 1;
    for (uint64_t v = 0; v < n_values; ++v) {
      const uint64_t gap = r.Varint();
      const uint8_t flags = r.Byte();
      DottedValue d;
      d.sibling.hlc = r.Varint();
      d.sibling.writer = r.Varint();
      if (flags & kFlagExpires) d.sibling.expire_at_ms = UnZigZag(r.Varint());
      const uint64_t len = r.Varint();
      const std::string_view value = r.Bytes(len);
      if (!r.ok()) return Corrupt("truncated");
      if (gap >= prev - 1) return Corrupt("bad dot");  // the dot must stay >= 1
      d.counter = prev - 1 - gap;
      prev = d.counter;
      if ((flags & ~kKnownFlags) != 0) return Corrupt("unknown flags");
      if ((flags & kFlagExpires) && d.sibling.expire_at_ms == 0) return Corrupt("bad expiry");
      d.sibling.tombstone = (flags & kFlagTombstone) != 0;
      if (d.sibling.tombstone && !value.empty()) return Corrupt("tombstone with a value");
      d.sibling.value.assign(value.data(), value.size());
      e.values.push_back(std::move(d));
    }
    set.entries_.push_back(std::move(e));
  }
  if (!r.AtEnd()) return Corrupt("trailing bytes");
  return set;
}

std::string DVVSet::DebugString() const {
  std::string out = "{";
  for (const Entry& e : entries_) {
    if (out.size() > 1) out += ", ";
    out += e.actor.ToString() + ":" + std::to_string(e.counter) + "[";
    for (size_t i = 0; i < e.values.size(); ++i) {
      if (i > 0) out += " ";
      const DottedValue& d = e.values[i];
      out += std::to_string(d.counter) + "=" +
             (d.sibling.tombstone ? std::string("<del>") : "\"" + d.sibling.value + "\"");
    }
    out += "]";
  }
  return out + "}";
}

// ---- contexts ------------------------------------------------------------------------------

std::string EncodeContext(const VersionVector& raw) {
  const VersionVector vv = Normalized(raw);
  if (vv.empty()) return std::string();
  std::string out;
  out.push_back(static_cast<char>(kContextV1));
  PutVarint(&out, vv.size());
  for (const auto& [actor, n] : vv) {
    PutVarint(&out, actor.node_id);
    PutVarint(&out, actor.epoch);
    PutVarint(&out, n);
  }
  const uint32_t crc = Crc32c(out);
  for (int k = 0; k < 4; ++k) out.push_back(static_cast<char>((crc >> (8 * k)) & 0xff));
  return out;
}

StatusOr<VersionVector> DecodeContext(std::string_view bytes) {
  if (bytes.empty()) return VersionVector();  // blind write
  if (bytes.size() < 1 + 1 + kCrcBytes) return BadContext();
  const std::string_view body = bytes.substr(0, bytes.size() - kCrcBytes);
  uint32_t crc = 0;
  for (size_t k = 0; k < kCrcBytes; ++k) {
    crc |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[body.size() + k])) << (8 * k);
  }
  if (crc != Crc32c(body)) return BadContext();

  Reader r(body);
  if (r.Byte() != kContextV1) return BadContext();
  const uint64_t n = r.Varint();
  if (!r.ok() || n > kMaxActors || n > r.remaining() / kMinContextEntryBytes) return BadContext();
  VersionVector vv;
  vv.reserve(static_cast<size_t>(n));
  for (uint64_t k = 0; k < n; ++k) {
    Actor a;
    a.node_id = r.Varint();
    const uint64_t epoch = r.Varint();
    const uint64_t counter = r.Varint();
    if (!r.ok()) return BadContext();
    a.epoch = epoch;
    if (counter == 0 || counter > kMaxCounter) return BadContext();
    if (!vv.empty() && !(vv.back().first < a)) return BadContext();
    vv.emplace_back(a, counter);
  }
  if (!r.AtEnd()) return BadContext();
  return vv;
}

bool Descends(const VersionVector& raw_a, const VersionVector& raw_b) {
  const VersionVector a = Normalized(raw_a);
  const VersionVector b = Normalized(raw_b);
  size_t i = 0;
  for (const auto& [actor, n] : b) {
    while (i < a.size() && a[i].first < actor) ++i;
    if (i == a.size() || a[i].first != actor || a[i].second < n) return false;
  }
  return true;
}

VersionVector MergeVV(const VersionVector& raw_a, const VersionVector& raw_b) {
  VersionVector all = raw_a;
  all.insert(all.end(), raw_b.begin(), raw_b.end());
  return Normalized(std::move(all));
}

}  // namespace dynis::version
