//! Line charts as SVG text, drawn with `plotters` (its SVG backend only).

use plotters::prelude::*;

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// Its legend entry (empty: no legend).
    pub(crate) name: String,
    /// Its points, in x order.
    pub(crate) points: Vec<(f64, f64)>,
}

/// A chart of lines against one axis; the y axis starts at zero.
#[derive(Debug, Clone)]
pub(crate) struct LineChart {
    pub(crate) title: String,
    pub(crate) x_label: String,
    pub(crate) y_label: String,
    pub(crate) series: Vec<Series>,
}

/// Line colours, distinct on white.
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Chart size, pixels.
const SIZE: (u32, u32) = (760, 460);

impl LineChart {
    /// The chart as a standalone SVG document.
    pub(crate) fn to_svg(&self) -> anyhow::Result<String> {
        let mut svg = String::new();
        self.draw(&mut svg)
            .map_err(|error| anyhow::anyhow!("cannot draw {:?}: {error}", self.title))?;
        Ok(svg)
    }

    fn draw(&self, svg: &mut String) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let (mut x_low, mut x_high) = xs.fold((f64::MAX, f64::MIN), |(low, high), x| {
            (low.min(x), high.max(x))
        });
        if x_low > x_high {
            (x_low, x_high) = (0.0, 1.0);
        }
        // A single value still gets a visible axis around it.
        let pad = ((x_high - x_low) * 0.05).max(x_high.abs() * 0.1).max(0.5);
        let y_high = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0f64, f64::max);
        // Headroom above the lines for the legend in the upper left corner.
        let legend_lines = self.series.iter().filter(|s| !s.name.is_empty()).count();
        let headroom = 1.1 + 0.09 * legend_lines as f64;
        let y_high = if y_high > 0.0 { y_high * headroom } else { 1.0 };

        let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 20))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d((x_low - pad)..(x_high + pad), 0.0..y_high)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .axis_desc_style(("sans-serif", 16))
            .label_style(("sans-serif", 14))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (index, series) in self.series.iter().enumerate() {
            let color = COLORS[index % COLORS.len()];
            let line = chart.draw_series(LineSeries::new(
                series.points.iter().copied(),
                color.stroke_width(2),
            ))?;
            if !series.name.is_empty() {
                line.label(series.name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            }
            chart.draw_series(
                series
                    .points
                    .iter()
                    .map(|&point| Circle::new(point, 3, color.filled())),
            )?;
        }
        if self.series.iter().any(|series| !series.name.is_empty()) {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font(("sans-serif", 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()?;
        }
        root.present()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_one_svg_document_with_its_lines_and_labels() {
        let chart = LineChart {
            title: "View size against interest_radius".into(),
            x_label: "interest_radius (m)".into(),
            y_label: "view (entities)".into(),
            series: vec![
                Series {
                    name: "tick_rate=10".into(),
                    points: vec![(20.0, 3.0), (50.0, 9.0)],
                },
                Series {
                    name: "tick_rate=20".into(),
                    points: vec![(20.0, 4.0), (50.0, 10.0)],
                },
            ],
        };
        let svg = chart.to_svg().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("View size against interest_radius"));
        assert!(svg.contains("tick_rate=20"));
        assert_eq!(
            svg.matches(r#"stroke-width="2""#).count(),
            2 + 2,
            "two lines, two legend marks"
        );
    }
}
