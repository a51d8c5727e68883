package histcheck_test

import (
	"fmt"

	"github.com/commitlog-go/commitlog/internal/histcheck"
)

// A producer sends three records, the first two acknowledged durable; the
// system crashes, and the partition read after recovery has lost the
// second one.
func Example() {
	rec := histcheck.NewRecorder(histcheck.Config{})
	p := histcheck.Partition{Topic: "orders", ID: 0}

	rec.Send("p1", p, "p1-0").Ok(0)
	rec.Send("p1", p, "p1-1").Ok(1)
	rec.Send("p1", p, "p1-2").Unknown() // a timeout: may or may not be written
	rec.Poll("c1", 0, histcheck.Read{Partition: p, Offset: 0, Value: "p1-0"})

	rec.Crash()
	rec.Final(p, 0, 1, []histcheck.Read{{Partition: p, Offset: 0, Value: "p1-0"}})

	res := rec.Check(histcheck.Options{})
	fmt.Println(res.Err())
	// Output:
	// histcheck: checked 2 acknowledged records of 3 sends (0 failed, 1 unknown), 1 polled, 1 final read and 0 commits over 1 partition and 1 crash: 1 error (lost-write 1)
	//   lost-write orders-0@1: "p1-1" (acknowledged durable to p1 before crash 1) is missing from the final read [0, 1) after crash 1: it was acknowledged durable
}
