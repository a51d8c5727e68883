package commitlog

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/commitlog-go/commitlog/internal/histcheck"
	"github.com/commitlog-go/commitlog/internal/vfs"
	"github.com/stretchr/testify/require"
)

// adminState is what a topic name stands for at a point of the admin
// workload: which incarnation is live (none when deleted), whether a
// delete of it is under way, and what was acknowledged to each incarnation.
// hist records the appends for internal/histcheck, each incarnation's
// partitions as a topic of their own named by the incarnation ("A1-0");
// history is a clone's copy of its lines.
type adminState struct {
	live     map[string]string   // topic -> incarnation ("A1"), or absent
	deleting map[string]string   // topic -> incarnation being deleted
	gone     map[string]bool     // incarnations whose DeleteTopic returned
	acked    map[string][]string // incarnation -> acknowledged values, in order
	hist     *crashHistory
	history  []byte
}

func newAdminState() adminState {
	return adminState{live: map[string]string{}, deleting: map[string]string{}, gone: map[string]bool{}, acked: map[string][]string{}, hist: newCrashHistory()}
}

func (s adminState) clone() adminState {
	c := newAdminState()
	c.history = s.hist.lines()
	for k, v := range s.gone {
		c.gone[k] = v
	}
	for k, v := range s.live {
		c.live[k] = v
	}
	for k, v := range s.deleting {
		c.deleting[k] = v
	}
	for k, v := range s.acked {
		c.acked[k] = append([]string(nil), v...)
	}
	return c
}

// adminWorkload creates, fills, deletes and re-creates topics.
func adminWorkload(fs vfs.FS, mu *sync.Mutex, st *adminState) error {
	ctx := context.Background()
	l, err := Open(testDir, testOptions(fs))
	if err != nil {
		return err
	}
	defer l.Close()
	set := func(f func()) { mu.Lock(); f(); mu.Unlock() }
	create := func(name, inc string) error {
		if _, err := l.CreateTopic(ctx, name, TopicConfig{Partitions: 2, SegmentBytes: 4096, SegmentIndexBytes: 1024}); err != nil {
			return err
		}
		set(func() { st.live[name] = inc })
		return nil
	}
	fill := func(name, inc string, n int) error {
		tp, err := l.Topic(name)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			v := fmt.Sprintf("%s-%d", inc, i)
			p, _ := tp.Partition(int32(i % 2))
			s := st.hist.rec.Send("writer", histcheck.Partition{Topic: inc, ID: int32(i % 2)}, v)
			res, err := p.Append(ctx, []Record{{Value: []byte(v)}})
			if err != nil {
				s.Unknown()
				return err
			}
			s.Ok(res.BaseOffset)
			set(func() { st.acked[inc] = append(st.acked[inc], v) })
		}
		return nil
	}
	remove := func(name string) error {
		set(func() { st.deleting[name] = st.live[name]; delete(st.live, name) })
		if err := l.DeleteTopic(ctx, name); err != nil {
			return err
		}
		set(func() { st.gone[st.deleting[name]] = true; delete(st.deleting, name) })
		return nil
	}
	for _, step := range []func() error{
		func() error { return create("a", "A1") },
		func() error { return fill("a", "A1", 6) },
		func() error { return create("b", "B1") },
		func() error { return fill("b", "B1", 4) },
		func() error { return remove("a") },
		func() error { return create("a", "A2") },
		func() error { return fill("a", "A2", 4) },
		func() error { return remove("b") },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	return l.Close()
}

func TestCrashDuringTopicAdmin(t *testing.T) {
	counter := vfs.OnIndex(-1, vfs.Op.Mutating, nil)
	var mu sync.Mutex
	st := newAdminState()
	require.NoError(t, adminWorkload(vfs.WithInjector(vfs.NewMem(), counter, vfs.InjectOptions{}), &mu, &st))
	total := int(counter.Count())
	states := 0
	for k := 0; k < total; k++ {
		mem := vfs.NewMem()
		st := newAdminState()
		var (
			mu     sync.Mutex
			ops    int
			at     adminState
			clones []*vfs.MemFS
		)
		inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
			if !op.Mutating() {
				return nil
			}
			if ops == k {
				mu.Lock()
				at = st.clone()
				mu.Unlock()
				for i, keep := range []float64{0, 0.5, 1} {
					clones = append(clones, mem.CrashClone(vfs.CrashOptions{Seed: int64(k*3 + i), KeepUnsynced: keep, Tear: true}))
				}
			}
			ops++
			return nil
		})
		require.NoError(t, adminWorkload(vfs.WithInjector(mem, inj, vfs.InjectOptions{}), &mu, &st))
		for i, c := range clones {
			states++
			checkAdminState(t, c, at, fmt.Sprintf("crash before op %d, clone %d", k, i))
		}
	}
	t.Logf("%d crash states of topic administration checked", states)
}

// checkAdminState opens a crash state and checks it against at. With
// internal/histcheck it checks, against the history up to the crash, the
// incarnation each recovered topic holds (the one its records name, or
// else the one live at the crash) and the live incarnations whose topic
// did not recover (as empty).
func checkAdminState(t *testing.T, fs *vfs.MemFS, at adminState, what string) {
	ctx := context.Background()
	l, err := Open(testDir, testOptions(fs))
	require.NoError(t, err, what)
	defer l.Close()
	require.NoError(t, l.Check(ctx), what)
	rec := replayCrashHistory(t, at.history, what)
	present := map[string]bool{}
	for _, name := range l.Topics() {
		present[name] = true
		tp, _ := l.Topic(name)
		require.Equal(t, int32(2), tp.NumPartitions(), what)
		var got []string
		var reads [2][]histcheck.Read // by partition, named by incarnation once known
		for id := int32(0); id < 2; id++ {
			p, _ := tp.Partition(id)
			for r, err := range p.Scan(ctx, 0) {
				require.NoError(t, err, what)
				got = append(got, string(r.Value))
				reads[id] = append(reads[id], histcheck.Read{Partition: histcheck.Partition{ID: id}, Offset: r.Offset, Value: string(r.Value)})
			}
		}
		incs := map[string]bool{}
		for _, v := range got {
			incs[strings.SplitN(v, "-", 2)[0]] = true
		}
		require.LessOrEqual(t, len(incs), 1, "%s: topic %s mixes incarnations %v", what, name, incs)
		for inc := range incs {
			require.False(t, at.gone[inc], "%s: records of %s came back after its DeleteTopic returned", what, inc)
		}
		if live := at.live[name]; live != "" {
			for _, v := range at.acked[live] {
				require.Contains(t, got, v, "%s: acknowledged %s lost", what, v)
			}
		}
		inc := at.live[name]
		for i := range incs {
			inc = i // the one incarnation the records name
		}
		if inc == "" {
			continue // empty, and no incarnation was live: one being created or deleted
		}
		for id := int32(0); id < 2; id++ {
			p, _ := tp.Partition(id)
			for i := range reads[id] {
				reads[id][i].Partition.Topic = inc
			}
			rec.Final(histcheck.Partition{Topic: inc, ID: id}, p.StartOffset(), p.EndOffset(), reads[id])
		}
	}
	for name, inc := range at.live {
		if len(at.acked[inc]) > 0 {
			require.True(t, present[name], "%s: topic %s with acknowledged records is missing", what, name)
		}
		if !present[name] {
			for id := int32(0); id < 2; id++ {
				rec.Final(histcheck.Partition{Topic: inc, ID: id}, 0, 0, nil)
			}
		}
	}
	// SyncAlways: every acknowledgement is durable. Records of the
	// incarnations deleted are never read, so not all are seen.
	requireHistory(t, rec, histcheck.Options{}, what)
}
