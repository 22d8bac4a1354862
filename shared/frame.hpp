#pragma once
// Wire frames for every dynmgr message queue.
//
//   | magic u32 | version u16 | kind u16 | request_id u64 | length u32 | crc32 u32 | body |
//
// The body is JSON text of `length` bytes; crc32 covers the header fields before
// it and the body. A receiver gets a torn or foreign frame only if a sender died
// mid-send or something else wrote the queue; decode() rejects it and the caller
// counts it, never parses it.

#include "shared/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace dynmgr {

enum class MessageKind : std::uint16_t {
  // client -> supervisor (control queue)
  kPing = 1,
  kPut = 2,
  kDel = 3,
  kGet = 4,
  kRestart = 5,
  kStop = 6,
  kReexec = 7,
  kRestartWorker = 8,  // restart ID: one worker, same spec, from its last payload
  kReload = 9,         // reload [FILE]: apply the manager's children anew
  kActivate = 10,      // start a passive worker (a caller is about to send to it): {"id"}
  kPutMany = 11,       // import: a batch of puts, one reply for all of them
  // worker -> supervisor (control queue)
  kWorkerReady = 20,
  kWorkerUpdate = 21,     // perform/cast result: value / payload / timeout changes
  kWorkerReplaceId = 22,  // replace(new_id, payload)
  kWorkerHalt = 23,
  kWorkerCommitReply = 24,  // call replied with replace(p): commit, then reply for the worker
  kQueueDead = 25,          // "the queue named in the body threw": recreate it
  kWorkerFailing = 26,      // the worker is about to exit abnormally: {"reason"}
  kWorkerIdle = 27,         // idle for its passivate_after: {"next_perform"} (ms, if any)
  // its command (exec worker) ended while the worker is sound: {"exit","uptime","seq"};
  // answered in the slot's words page (a restart in place, or exit as for a crash)
  kWorkerCommandExited = 28,
  // client -> worker (mailbox)
  kCall = 40,
  kCast = 41,
  // supervisor -> worker (mailbox)
  kTerminate = 42,
  // anyone -> client (reply queue)
  kReply = 60,
  // internal wake-up (no body)
  kWake = 70,
};

inline constexpr std::uint32_t kFrameMagic = 0x444D4752;  // "DMGR"
inline constexpr std::uint16_t kFrameVersion = 1;
inline constexpr std::size_t kFrameHeaderSize = 24;

struct Frame {
  MessageKind kind = MessageKind::kPing;
  std::uint64_t request_id = 0;
  std::string body;  // JSON text
};

// Appends the encoded frame to out (cleared first).
void encode_frame(const Frame& frame, std::string& out);
// Decodes and verifies a received buffer. kInvalid with the reason on any mismatch.
Result<Frame> decode_frame(std::string_view bytes);

}  // namespace dynmgr
