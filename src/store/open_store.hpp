#pragma once

#include "config/config.hpp"
#include "store/store.hpp"

#include <memory>

namespace ssehub::store {

// The report store chosen by `--store`: SQLite in the data dir, or a DynamoDB table.
// Throws on a store that cannot be opened or configured.
std::unique_ptr<Store> open_store(const config::Config& config);

}  // namespace ssehub::store
