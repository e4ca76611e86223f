package multipart

import "time"

// run sweeps old uploads once at start, which removes those that aged
// while the process was down, and then every SweepInterval until Close.
func (s *Store) run() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		s.sweep()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// sweep removes the uploads created more than MaxAge ago, but not those
// being completed right now, and returns how many it removed.
func (s *Store) sweep() int {
	cutoff := s.cfg.Now().Add(-s.cfg.MaxAge)
	type swept struct {
		u     *upload
		parts int
	}
	var old []swept
	s.mu.Lock()
	for _, u := range s.uploads {
		if u.Initiated.Before(cutoff) && u.pins == 0 {
			s.detach(u)
			old = append(old, swept{u, len(u.parts)})
		}
	}
	s.mu.Unlock()
	for _, o := range old {
		u := o.u
		if err := s.removeFiles(u); err != nil {
			s.log.Warn("removing abandoned multipart upload", "upload_id", u.ID, "err", err)
			continue
		}
		s.log.Info("removed abandoned multipart upload", "upload_id", u.ID, "bucket", u.Info.Bucket,
			"key", u.Info.Key, "initiated", u.Initiated, "parts", o.parts)
	}
	return len(old)
}
