// Package commitlog is Apache Kafka's partitioned commit log as an embeddable
// Go library.
package commitlog
