//! Virtual time to wall time. The fleet's clock runs at a *speed* (virtual seconds per wall
//! second); stages make the speed move linearly over their wall duration (k6's ramping
//! arrival rate, applied to the fleet's clock rather than to a request rate), so the traffic
//! keeps its shape — the working day, Saturdays, month-end — while its level follows the
//! stages. After the last stage its speed holds until the fleet's last event.
//!
//! Within a stage of wall length D going from speed a to b, the virtual time reached after t
//! wall seconds is v(t) = a·t + (b − a)·t² / 2D; the wall instant of a virtual offset is its
//! inverse, t = 2·dv / (a + √(a² + 4k·dv)) with k = (b − a) / 2D, a form that stays exact when
//! a = 0 (a ramp from a stop) and when a = b (k = 0). The arithmetic is f64: these are
//! instants to send at, never amounts.

/// One stage, with what it starts from: wall seconds since the run's start, virtual seconds
/// since the fleet's start.
#[derive(Clone, Debug, PartialEq)]
struct Segment {
    name: String,
    wall_start: f64,
    /// Infinite for the hold after the last stage.
    wall_len: f64,
    virtual_start: f64,
    virtual_len: f64,
    from: f64,
    to: f64,
}

/// A stage as the pacing takes it: a name, a wall duration in seconds and the speed reached
/// at its end.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub name: String,
    pub seconds: f64,
    pub speed: f64,
}

/// The name of the hold after the stages, when there are stages.
pub const HOLD: &str = "hold after the stages";
/// The name of the only stage of a run at one constant speed.
pub const STEADY: &str = "steady";

#[derive(Clone, Debug, PartialEq)]
pub struct Pacing {
    segments: Vec<Segment>,
}

impl Pacing {
    /// One speed throughout (above zero).
    pub fn constant(speed: f64) -> Pacing {
        Pacing {
            segments: vec![Segment {
                name: STEADY.to_string(),
                wall_start: 0.0,
                wall_len: f64::INFINITY,
                virtual_start: 0.0,
                virtual_len: f64::INFINITY,
                from: speed,
                to: speed,
            }],
        }
    }

    /// Stages from `start` (absent: the first stage's own speed), then their last speed held.
    /// The last speed must be above zero (the scenario's validation makes sure).
    pub fn staged(start: Option<f64>, stages: &[Stage]) -> Pacing {
        let mut segments = Vec::with_capacity(stages.len() + 1);
        let (mut wall, mut virt) = (0.0, 0.0);
        let mut from = start.or(stages.first().map(|s| s.speed)).unwrap_or(0.0);
        for s in stages {
            let virtual_len = (from + s.speed) / 2.0 * s.seconds;
            segments.push(Segment {
                name: s.name.clone(),
                wall_start: wall,
                wall_len: s.seconds,
                virtual_start: virt,
                virtual_len,
                from,
                to: s.speed,
            });
            wall += s.seconds;
            virt += virtual_len;
            from = s.speed;
        }
        segments.push(Segment {
            name: HOLD.to_string(),
            wall_start: wall,
            wall_len: f64::INFINITY,
            virtual_start: virt,
            virtual_len: f64::INFINITY,
            from,
            to: from,
        });
        Pacing { segments }
    }

    /// Wall seconds after the start at which the fleet's clock reaches `virtual_seconds`
    /// after its own start (`None`: never, the pace having stopped).
    pub fn wall_at(&self, virtual_seconds: f64) -> Option<f64> {
        let v = virtual_seconds.max(0.0);
        let s = self
            .segments
            .iter()
            .find(|s| v < s.virtual_start + s.virtual_len)?;
        let dv = v - s.virtual_start;
        let k = if s.wall_len.is_finite() {
            (s.to - s.from) / (2.0 * s.wall_len)
        } else {
            0.0
        };
        let root = (s.from * s.from + 4.0 * k * dv).max(0.0).sqrt();
        let denominator = s.from + root;
        if denominator <= 0.0 {
            return (dv == 0.0).then_some(s.wall_start);
        }
        Some(s.wall_start + (2.0 * dv / denominator).min(s.wall_len))
    }

    /// The stage (index into `names`) running `wall_seconds` after the start.
    pub fn stage_at(&self, wall_seconds: f64) -> usize {
        self.segments
            .iter()
            .rposition(|s| s.wall_start <= wall_seconds)
            .unwrap_or(0)
    }

    /// The stages' names in order (the hold after them last).
    pub fn names(&self) -> Vec<String> {
        self.segments.iter().map(|s| s.name.clone()).collect()
    }

    /// The speed `wall_seconds` after the start.
    pub fn speed_at(&self, wall_seconds: f64) -> f64 {
        let s = &self.segments[self.stage_at(wall_seconds)];
        if !s.wall_len.is_finite() || s.wall_len == 0.0 {
            return s.to;
        }
        let t = ((wall_seconds - s.wall_start) / s.wall_len).clamp(0.0, 1.0);
        s.from + (s.to - s.from) * t
    }

    /// Each stage's wall bounds in seconds (the hold's end is infinite).
    pub fn bounds(&self) -> Vec<(f64, f64)> {
        self.segments
            .iter()
            .map(|s| (s.wall_start, s.wall_start + s.wall_len))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, seconds: f64, speed: f64) -> Stage {
        Stage {
            name: name.into(),
            seconds,
            speed,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn a_constant_speed_divides_virtual_time() {
        let p = Pacing::constant(3600.0);
        assert_eq!(p.wall_at(7200.0), Some(2.0));
        assert_eq!(p.wall_at(0.0), Some(0.0));
        assert_eq!(p.names(), vec![STEADY.to_string()]);
    }

    #[test]
    fn a_ramp_from_a_stop_reaches_its_area_at_its_end() {
        // 0 → 100x over 10 s covers 500 virtual seconds; then 100x holds.
        let p = Pacing::staged(Some(0.0), &[stage("ramp", 10.0, 100.0)]);
        assert!(close(p.wall_at(500.0).unwrap(), 10.0));
        // Halfway in wall time (5 s) the area is a quarter: 125 virtual seconds.
        assert!(close(p.wall_at(125.0).unwrap(), 5.0));
        // The hold: 100 more virtual seconds take one more wall second.
        assert!(close(p.wall_at(600.0).unwrap(), 11.0));
        assert_eq!(p.stage_at(4.0), 0);
        assert_eq!(p.stage_at(10.5), 1);
        assert!(close(p.speed_at(5.0), 50.0));
    }

    #[test]
    fn ramps_down_and_spikes_invert_exactly() {
        let p = Pacing::staged(
            None,
            &[
                stage("hold", 4.0, 200.0),
                stage("spike", 2.0, 1000.0),
                stage("down", 4.0, 100.0),
            ],
        );
        // Forward: the virtual time reached at wall t, computed by summing small steps.
        let mut v = 0.0;
        let dt = 1e-4;
        let mut t = 0.0;
        while t < 12.0 {
            let probe = p.wall_at(v).unwrap();
            assert!(
                (probe - t).abs() < 1e-3,
                "at t = {t}: wall_at({v}) = {probe}"
            );
            v += p.speed_at(t + dt / 2.0) * dt;
            t += dt;
        }
    }

    #[test]
    fn a_stage_at_zero_in_between_is_crossed_not_stuck() {
        let p = Pacing::staged(
            None,
            &[
                stage("up", 2.0, 100.0),
                stage("stop", 2.0, 0.0),
                stage("again", 2.0, 100.0),
            ],
        );
        // "up" covers 200, "stop" 100 (from 100 to 0), "again" 100 (from 0 to 100).
        assert!(close(p.wall_at(300.0).unwrap(), 4.0));
        assert!(close(p.wall_at(350.0).unwrap(), 4.0 + 2.0_f64.sqrt()));
        assert!(close(p.wall_at(400.0).unwrap(), 6.0));
    }
}
