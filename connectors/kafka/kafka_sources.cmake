# dxnorm_kafka: the Kafka connector (source, sink, embedded broker, publish).
# The only target that links librdkafka.
add_library(dxnorm_kafka STATIC
  ${CMAKE_CURRENT_LIST_DIR}/embedded_broker.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kafka_config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kafka_error.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kafka_handles.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kafka_log.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kafka_publish.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kafka_reader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kafka_sink.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kafka_source.cpp
  ${CMAKE_CURRENT_LIST_DIR}/offset_tracker.cpp
)
find_package(Threads REQUIRED)
target_link_libraries(dxnorm_kafka PUBLIC PkgConfig::RDKAFKA dxnorm_core Threads::Threads)
