package probes

// PLACEHOLDER: replaced by the real steps probe kind.

import (
	"context"
)

type stepsSpec struct{}

func stepsKind() Kind { return Kind{Name: "steps", New: func() Spec { return &stepsSpec{} }} }

func (s *stepsSpec) Validate(eg *Egress) error { return nil } // placeholder

func (s *stepsSpec) Probe(ctx context.Context, r Run) Result {
	res := Result{}
	return res.Fail("steps probes are not built yet")
}
