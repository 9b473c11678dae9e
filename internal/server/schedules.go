package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/slipway-cd/slipway/internal/pipelines"
	"github.com/slipway-cd/slipway/internal/store"
)

// schedule finds the schedule of the path, which must be the path's
// project's: another project's ID is not found.
func (s *Server) schedule(r *http.Request) (store.Project, store.Schedule, error) {
	p, err := s.project(r)
	if err != nil {
		return p, store.Schedule{}, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return p, store.Schedule{}, err
	}
	sc, err := s.Store.GetSchedule(r.Context(), id)
	if err == nil && sc.ProjectID != p.ID {
		return p, store.Schedule{}, &httpError{http.StatusNotFound, "schedule " + r.PathValue("id") + " is not project " + p.Name + "'s"}
	}
	return p, sc, err
}

func (s *Server) getSchedule(r *http.Request) (any, error) {
	_, sc, err := s.schedule(r)
	sc.Variables = s.visibleValues(r, sc.Variables)
	return sc, err
}

// updateSchedule changes the fields the body gives, as GitLab's PUT
// /pipeline_schedules/:id does; {"active": false} pauses the schedule and
// {"active": true} resumes it. Variables given replace them all.
func (s *Server) updateSchedule(r *http.Request) (any, error) {
	_, sc, err := s.schedule(r)
	if err != nil {
		return nil, err
	}
	id, project, vars := sc.ID, sc.ProjectID, sc.Variables
	sc.Variables = nil
	if err := decode(r, &sc); err != nil {
		return nil, err
	}
	if sc.Variables == nil {
		sc.Variables = vars
	}
	sc.ID, sc.ProjectID = id, project
	return s.Store.UpdateSchedule(r.Context(), sc)
}

func (s *Server) deleteSchedule(r *http.Request) (any, error) {
	_, sc, err := s.schedule(r)
	if err != nil {
		return nil, err
	}
	return sc, s.Store.DeleteSchedule(r.Context(), sc.ID)
}

// playSchedule runs the schedule's pipeline now, as GitLab's POST
// /pipeline_schedules/:id/play; its next run stays when it was.
func (s *Server) playSchedule(r *http.Request) (any, error) {
	p, sc, err := s.schedule(r)
	if err != nil {
		return nil, err
	}
	pipe, err := s.runSchedule(r.Context(), p, sc)
	if err != nil {
		return nil, err
	}
	return s.pipelineView(r.Context(), pipe.ID)
}

// runSchedule creates the schedule's pipeline and records it as its last.
func (s *Server) runSchedule(ctx context.Context, project store.Project, sc store.Schedule) (store.Pipeline, error) {
	p, err := s.Pipes.Create(ctx, project, pipelines.Trigger{Source: "schedule", Ref: sc.Ref, Tag: s.isTag(ctx, project, sc.Ref), Variables: sc.Variables})
	if err != nil {
		return p, err
	}
	if err := s.Store.SetScheduleLastPipeline(ctx, sc.ID, p.ID); err != nil {
		s.log.Error("recording schedule's pipeline", "schedule", sc.ID, "err", err)
	}
	return p, nil
}

// uiScheduleAction handles the buttons of a schedule on its project's page; the
// page comes back after the change (the pipeline's page after Run now).
func (s *Server) uiScheduleAction(w http.ResponseWriter, r *http.Request) {
	p, sc, err := s.schedule(r)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	back := fmt.Sprintf("/projects/%d", p.ID)
	s.uiAct(w, r, back, func() (string, error) {
		ctx := r.Context()
		switch r.PathValue("action") {
		case "play":
			pipe, err := s.runSchedule(ctx, p, sc)
			return fmt.Sprintf("/pipelines/%d", pipe.ID), err
		case "pause", "resume":
			sc.Active = r.PathValue("action") == "resume"
		case "delete":
			return back, s.Store.DeleteSchedule(ctx, sc.ID)
		case "edit":
			// The variables stay: the page never shows their values.
			sc.Description = strings.TrimSpace(r.PostFormValue("description"))
			sc.Cron = strings.TrimSpace(r.PostFormValue("cron"))
			sc.Timezone = strings.TrimSpace(r.PostFormValue("timezone"))
			sc.Ref = strings.TrimSpace(r.PostFormValue("ref"))
		default:
			return "", &httpError{http.StatusNotFound, "no such schedule action"}
		}
		_, err := s.Store.UpdateSchedule(ctx, sc)
		return back, err
	})
}
