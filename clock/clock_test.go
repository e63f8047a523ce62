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

func TestFakeJumpKeepsTimerDurations(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, jump := range []time.Duration{time.Hour, -time.Hour} {
		f := NewFake(start)
		tm := f.NewTimer(time.Second)
		f.Jump(jump)
		if got, want := f.Now(), start.Add(jump); !got.Equal(want) {
			t.Fatalf("jump %v: now = %v, want %v", jump, got, want)
		}
		select {
		case <-tm.C():
			t.Fatalf("jump %v: timer fired at the jump", jump)
		default:
		}
		f.Advance(time.Second)
		select {
		case got := <-tm.C():
			if want := start.Add(jump + time.Second); !got.Equal(want) {
				t.Fatalf("jump %v: fired at %v, want %v", jump, got, want)
			}
		default:
			t.Fatalf("jump %v: timer did not fire 1s after the jump", jump)
		}
	}
}
