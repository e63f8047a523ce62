package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	a := f.NewTimer(2 * time.Second)
	b := f.NewTimer(time.Second)
	c := f.NewTimer(time.Hour)
	f.Advance(3 * time.Second)
	if got := <-b.C(); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("b fired at %v, want %v", got, start.Add(time.Second))
	}
	if got := <-a.C(); !got.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("a fired at %v", got)
	}
	select {
	case <-c.C():
		t.Fatal("c fired early")
	default:
	}
	if !c.Stop() {
		t.Fatal("Stop on pending timer returned false")
	}
	if f.Pending() != 0 {
		t.Fatalf("pending = %d, want 0", f.Pending())
	}
	if a.Stop() {
		t.Fatal("Stop on fired timer returned true")
	}
}

func TestFakeZeroDurationFiresAtOnce(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	select {
	case <-f.NewTimer(0).C():
	default:
		t.Fatal("zero timer did not fire")
	}
}
