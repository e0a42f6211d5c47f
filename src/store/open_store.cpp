#include "store/open_store.hpp"

#include "store/dynamodb/dynamodb_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <filesystem>

namespace ssehub::store {

std::unique_ptr<Store> open_store(const config::Config& config) {
  switch (config.store) {
    case config::ReportStore::Sqlite: {
      const auto path = std::filesystem::path(config.data_dir) / "reports.db";
      return std::make_unique<SqliteStore>(path.string(), config.store_timeout);
    }
    case config::ReportStore::DynamoDb:
      return std::make_unique<DynamoDbStore>(DynamoDbOptions::from_environment(config));
  }
  throw std::logic_error("a report store without a backend");
}

}  // namespace ssehub::store
