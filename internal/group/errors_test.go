package group

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestErrorsMatchTheirSentinels(t *testing.T) {
	err := &FencedError{Group: "g", MemberID: "member-1", Reason: "evicted"}
	require.ErrorIs(t, err, ErrFenced)
	require.EqualError(t, err, `commitlog: group "g" member member-1 fenced: evicted`)
	require.EqualError(t, &FencedError{Group: "g", Reason: "not a member"}, `commitlog: group "g": consumer fenced: not a member`)
	require.False(t, errors.Is(err, ErrGroupNotEmpty))
	require.EqualError(t, &BalancerMismatchError{Group: "g", Balancer: "a", Requested: "b"},
		`group: group "g" uses balancer "a"; this member asks for "b"`)
}
