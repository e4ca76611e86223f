package disk

import "testing"

func TestStat(t *testing.T) {
	u, err := Stat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if u.Total == 0 || u.Free > u.Total || u.Used > u.Total {
		t.Fatalf("implausible usage %+v", u)
	}
	if _, err := Stat("/does/not/exist"); err == nil {
		t.Fatal("no error for a missing path")
	}
}
