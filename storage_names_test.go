package commitlog

import "github.com/commitlog-go/commitlog/internal/storage"

// The on-disk names of a partition's files, as the tests that damage or
// inspect them spell them.
const (
	logSuffix              = storage.LogSuffix
	indexSuffix            = storage.IndexSuffix
	timeIndexSuffix        = storage.TimeIndexSuffix
	tmpSuffix              = storage.TmpSuffix
	checkpointName         = storage.CheckpointName
	leaderEpochsName       = storage.LeaderEpochsName
	cleanedSuffix          = storage.CleanedSuffix
	swapSuffix             = storage.SwapSuffix
	producerSnapshotSuffix = storage.ProducerSnapshotSuffix
)

var (
	segmentName           = storage.SegmentName
	parseSegmentName      = storage.ParseSegmentName
	snapshotFileName      = storage.SnapshotFileName
	parseSnapshotFileName = storage.ParseSnapshotFileName
	writeFileAtomic       = storage.WriteFileAtomic
	readFile              = storage.ReadFile
	nextSequence          = storage.NextSequence
	diskFull              = storage.DiskFull
)

// The engine's layout facts and checkpoint codec, as the tests that damage
// or inspect a partition's files use them.
const (
	offsetEntrySize       = storage.OffsetEntrySize
	timeEntrySize         = storage.TimeEntrySize
	prepareStep           = storage.PrepareStep
	reserveMinStep        = storage.ReserveMinStep
	maxDecompressedBatch  = storage.MaxDecompressedBatch
	checkpointRollsSynced = storage.CheckpointRollsSynced
)

var (
	partitionHoldsData  = storage.PartitionHoldsData
	writeCheckpoint     = storage.WriteCheckpoint
	initialCheckpoint   = storage.InitialCheckpoint
	unmarshalCheckpoint = storage.UnmarshalCheckpoint
)
