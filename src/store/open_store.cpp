#include "store/open_store.hpp"

#include "store/dynamodb/dynamodb_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <filesystem>

namespace ssehub::store {

std::unique_ptr<Store> open_store(const config::Config& config) {
  if (config.store == "sqlite") {
    const auto path = std::filesystem::path(config.data_dir) / "reports.db";
    return std::make_unique<SqliteStore>(path.string(), config.store_timeout);
  }
  if (config.store == "dynamodb")
    return std::make_unique<DynamoDbStore>(DynamoDbOptions::from_environment(config));
  throw std::invalid_argument("store `" + config.store + "` is not available in this build");
}

}  // namespace ssehub::store
