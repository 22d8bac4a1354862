#include "shared/reply_cache.hpp"

#include <algorithm>
#include <iterator>

namespace dynmgr {

ReplyCache::ReplyCache(const Names& names, std::size_t capacity)
    : prefix_(names.reply_prefix()), capacity_(std::max<std::size_t>(capacity, 1)) {}

Queue* ReplyCache::get(const std::string& name) {
  close_evicted();  // a caller that did not: never more than one held back
  // Never open a name a peer made up outside our reply queues.
  if (!name.starts_with(prefix_)) return nullptr;
  // A linear walk: a handful of entries, compared by name (a list node moves
  // to the front without copying or reopening the queue).
  for (auto it = queues_.begin(); it != queues_.end(); ++it) {
    if (it->name() != name) continue;
    if (it->dead()) {
      queues_.erase(it);
      break;
    }
    queues_.splice(queues_.begin(), queues_, it);
    return &queues_.front();
  }
  auto q = Queue::open(name);
  if (!q) return nullptr;
  queues_.push_front(std::move(*q));
  if (queues_.size() > capacity_) {
    evicted_.splice(evicted_.end(), queues_, std::prev(queues_.end()));
  }
  return &queues_.front();
}

void ReplyCache::drop(const std::string& name) noexcept {
  queues_.remove_if([&](const Queue& q) { return q.name() == name; });
}

}  // namespace dynmgr
