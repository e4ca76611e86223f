package multipart

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"
)

// Upload describes an upload in progress.
type Upload struct {
	Bucket, Key, ID string
	Initiated       time.Time
}

// UploadsOptions selects the uploads Uploads lists.
type UploadsOptions struct {
	// Prefix keeps the uploads of keys that start with it.
	Prefix string
	// Delimiter, when set, rolls the keys that contain it after Prefix up
	// into one common prefix each: Prefix up to and including the first
	// Delimiter.
	Delimiter string
	// KeyMarker and UploadIDMarker start the listing after the upload
	// (KeyMarker, UploadIDMarker), or after every upload of KeyMarker when
	// UploadIDMarker is empty. UploadIDMarker alone is ignored.
	KeyMarker, UploadIDMarker string
	// Max is the most uploads and common prefixes listed. Default 1000.
	Max int
}

// UploadList is a page of uploads.
type UploadList struct {
	// Uploads are sorted by key, then by ID (not by initiation time as on
	// S3: a page boundary then falls on exactly one upload).
	Uploads        []Upload
	CommonPrefixes []string
	// Truncated says more uploads follow; NextKeyMarker and
	// NextUploadIDMarker are then the markers of the next page.
	Truncated                         bool
	NextKeyMarker, NextUploadIDMarker string
}

// Uploads lists the uploads in progress in bucket.
func (s *Store) Uploads(ctx context.Context, bucket string, opts UploadsOptions) (UploadList, error) {
	if err := ctx.Err(); err != nil {
		return UploadList{}, err
	}
	if opts.Max <= 0 {
		opts.Max = 1000
	}
	var all []Upload
	s.mu.Lock()
	for _, u := range s.uploads {
		if u.Info.Bucket == bucket && strings.HasPrefix(u.Info.Key, opts.Prefix) {
			all = append(all, Upload{Bucket: bucket, Key: u.Info.Key, ID: u.ID, Initiated: u.Initiated})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b Upload) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.ID, b.ID))
	})

	var l UploadList
	count := 0
	for _, u := range all {
		if opts.KeyMarker != "" {
			if u.Key < opts.KeyMarker || u.Key == opts.KeyMarker && (opts.UploadIDMarker == "" || u.ID <= opts.UploadIDMarker) {
				continue
			}
		}
		cp := ""
		if opts.Delimiter != "" {
			if i := strings.Index(u.Key[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				cp = u.Key[:len(opts.Prefix)+i+len(opts.Delimiter)]
			}
		}
		if cp != "" && (cp == opts.KeyMarker || len(l.CommonPrefixes) > 0 && l.CommonPrefixes[len(l.CommonPrefixes)-1] == cp) {
			continue // rolled up already, on this page or the last
		}
		if count == opts.Max {
			l.Truncated = true
			break
		}
		count++
		if cp != "" {
			l.CommonPrefixes = append(l.CommonPrefixes, cp)
			l.NextKeyMarker, l.NextUploadIDMarker = cp, ""
			continue
		}
		l.Uploads = append(l.Uploads, u)
		l.NextKeyMarker, l.NextUploadIDMarker = u.Key, u.ID
	}
	if !l.Truncated {
		l.NextKeyMarker, l.NextUploadIDMarker = "", ""
	}
	return l, nil
}
