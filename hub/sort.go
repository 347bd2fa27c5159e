package hub

import (
	"cmp"
	"slices"
)

// sortMembers orders members by folded nickname. Each name is folded once, not once
// per comparison: in a room of thousands that was most of a presence update's cost.
func sortMembers(members []Member) {
	type keyed struct {
		key string
		m   Member
	}
	keys := make([]keyed, len(members))
	for i, m := range members {
		keys[i] = keyed{FoldNickname(m.Nickname), m}
	}
	slices.SortFunc(keys, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.m.SessionID, b.m.SessionID))
	})
	for i, k := range keys {
		members[i] = k.m
	}
}
