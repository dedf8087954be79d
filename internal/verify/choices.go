package verify

import (
	"bytes"
	"sort"

	"github.com/vdsogen/vdsogen/layout"
)

// sameChoices reports whether two variants' sites offer the same choices.
func sameChoices(a, b layout.Site) bool {
	if len(a.Choices) != len(b.Choices) {
		return false
	}
	for i := range a.Choices {
		x, y := a.Choices[i], b.Choices[i]
		if x.Name != y.Name || x.Feature != y.Feature || x.Offset != y.Offset || !bytes.Equal(x.Bytes, y.Bytes) {
			return false
		}
	}
	return true
}

// poolLen is how many bytes of the replacement pool choice c of im
// occupies: up to the next choice, or to the end of the image.
func poolLen(im *image, c layout.Choice) int {
	i := sort.SearchInts(im.pool, c.Offset+1)
	if i < len(im.pool) {
		return im.pool[i] - c.Offset
	}
	return len(im.b) - c.Offset
}
