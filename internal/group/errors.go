package group

import (
	"errors"
	"fmt"
)

// Errors the state machine returns. The root package re-exports ErrFenced,
// ErrGroupNotEmpty and FencedError under the same names (a variable
// holding the same value, a type alias), so errors.Is and errors.As hold
// across the boundary; ErrClosed and *BalancerMismatchError it translates
// into its own ErrClosed and ErrInvalidConfig.
var (
	// ErrClosed is returned by Join and CheckCommit after Close.
	ErrClosed = errors.New("group: coordinator closed")
	// ErrFenced is returned to a consumer-group member acting on what it
	// no longer owns: it was evicted for not polling within
	// MaxPollInterval, replaced by a consumer with the same InstanceID, or
	// tried to commit a partition that is not assigned to it. The
	// *FencedError says which. After an eviction, the next Poll rejoins.
	ErrFenced = errors.New("commitlog: fenced")
	// ErrGroupNotEmpty is returned by group administration that needs the
	// group to have no members (resetting or deleting its offsets, or a
	// manually assigned consumer committing for it): close the group's
	// consumers first.
	ErrGroupNotEmpty = errors.New("commitlog: consumer group has members")
)

// FencedError reports why a consumer-group member was fenced. It matches
// ErrFenced.
type FencedError struct {
	Group    string
	MemberID string // empty when the consumer is no longer a member at all
	Reason   string // e.g. "evicted: no Poll within MaxPollInterval (5m0s)"
}

func (e *FencedError) Error() string {
	if e.MemberID == "" {
		return fmt.Sprintf("commitlog: group %q: consumer fenced: %s", e.Group, e.Reason)
	}
	return fmt.Sprintf("commitlog: group %q member %s fenced: %s", e.Group, e.MemberID, e.Reason)
}

// Is reports whether target is ErrFenced.
func (e *FencedError) Is(target error) bool { return target == ErrFenced }

// BalancerMismatchError is returned by Join for a member whose balancer
// is not the one its group's members use.
type BalancerMismatchError struct {
	Group     string
	Balancer  string // the name of the group's balancer
	Requested string // the name of the joining member's balancer
}

func (e *BalancerMismatchError) Error() string {
	return fmt.Sprintf("group: group %q uses balancer %q; this member asks for %q", e.Group, e.Balancer, e.Requested)
}
