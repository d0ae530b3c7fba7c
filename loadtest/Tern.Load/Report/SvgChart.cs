using System.Globalization;
using System.Net;
using System.Text;

namespace Tern.Load.Report;

/// <summary>One line of a chart: a name for the legend, a CSS colour and the points (x, y).</summary>
internal sealed record ChartSeries(string Name, string Color, IReadOnlyList<(double X, double Y)> Points);

/// <summary>
/// Line charts as inline SVG, drawn here so the HTML report needs no script and no network (a
/// report opened years later, offline, still shows its charts). Axes start at zero; the y axis gets
/// "nice" ticks (1, 2 or 5 times a power of ten); the x axis ticks can be given (the log-ish
/// percentile axis) or are nice ticks too.
/// </summary>
internal static class SvgChart
{
    private const int Width = 880;
    private const int Height = 300;
    private const int Left = 70;
    private const int Right = 34;
    private const int Top = 34;
    private const int Bottom = 44;

    public static string Render(string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series, double xMax, IReadOnlyList<(double X, string Label)>? xTicks = null)
    {
        var inv = CultureInfo.InvariantCulture;
        var yMaxData = 0.0;
        foreach (var s in series)
        {
            foreach (var (_, y) in s.Points)
            {
                yMaxData = Math.Max(yMaxData, y);
            }
        }

        var yStep = NiceStep(yMaxData > 0 ? yMaxData : 1);
        var yMax = Math.Ceiling((yMaxData > 0 ? yMaxData : 1) / yStep) * yStep;
        xMax = xMax > 0 ? xMax : 1;
        if (xTicks is null)
        {
            var xStep = NiceStep(xMax);
            var ticks = new List<(double, string)>();
            for (var x = 0.0; x <= xMax * 1.0001; x += xStep)
            {
                ticks.Add((x, Number(x)));
            }

            xTicks = ticks;
        }

        var plotW = Width - Left - Right;
        var plotH = Height - Top - Bottom;
        double Px(double x) => Left + x / xMax * plotW;
        double Py(double y) => Top + plotH - y / yMax * plotH;

        var b = new StringBuilder();
        b.Append(inv, $"<svg class=\"chart\" viewBox=\"0 0 {Width} {Height}\" width=\"{Width}\" height=\"{Height}\" role=\"img\" aria-label=\"{Esc(title)}\">");
        b.Append(inv, $"<text x=\"{Left}\" y=\"20\" class=\"title\">{Esc(title)}</text>");

        // Grid and y ticks.
        for (var y = 0.0; y <= yMax * 1.0001; y += yStep)
        {
            var py = Py(y);
            b.Append(inv, $"<line x1=\"{Left}\" y1=\"{py:0.#}\" x2=\"{Width - Right}\" y2=\"{py:0.#}\" class=\"grid\"/>");
            b.Append(inv, $"<text x=\"{Left - 6}\" y=\"{py + 4:0.#}\" text-anchor=\"end\">{Number(y)}</text>");
        }

        foreach (var (x, label) in xTicks)
        {
            var px = Px(x);
            b.Append(inv, $"<line x1=\"{px:0.#}\" y1=\"{Top}\" x2=\"{px:0.#}\" y2=\"{Top + plotH}\" class=\"grid\"/>");
            b.Append(inv, $"<text x=\"{px:0.#}\" y=\"{Top + plotH + 16}\" text-anchor=\"middle\">{Esc(label)}</text>");
        }

        b.Append(inv, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{plotW}\" height=\"{plotH}\" class=\"frame\"/>");
        b.Append(inv, $"<text x=\"{Left + plotW / 2}\" y=\"{Height - 6}\" text-anchor=\"middle\" class=\"axis\">{Esc(xLabel)}</text>");
        b.Append(inv, $"<text transform=\"translate(14 {Top + plotH / 2}) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">{Esc(yLabel)}</text>");

        var legendX = Width - Right - 10;
        for (var i = series.Count - 1; i >= 0; i--)
        {
            var s = series[i];
            var textWidth = 8 * s.Name.Length + 24;
            legendX -= textWidth;
            b.Append(inv, $"<rect x=\"{legendX}\" y=\"12\" width=\"12\" height=\"4\" fill=\"{Esc(s.Color)}\"/>");
            b.Append(inv, $"<text x=\"{legendX + 16}\" y=\"18\">{Esc(s.Name)}</text>");
        }

        foreach (var s in series)
        {
            if (s.Points.Count == 0)
            {
                continue;
            }

            b.Append(inv, $"<polyline fill=\"none\" stroke=\"{Esc(s.Color)}\" stroke-width=\"1.6\" points=\"");
            foreach (var (x, y) in s.Points)
            {
                b.Append(inv, $"{Px(x):0.#},{Py(y):0.#} ");
            }

            b.Append("\"/>");

            // Few points: mark them, so a one-interval run still shows its value.
            if (s.Points.Count <= 60)
            {
                foreach (var (x, y) in s.Points)
                {
                    b.Append(inv, $"<circle cx=\"{Px(x):0.#}\" cy=\"{Py(y):0.#}\" r=\"2.5\" fill=\"{Esc(s.Color)}\"/>");
                }
            }
        }

        b.Append("</svg>");
        return b.ToString();
    }

    /// <summary>1, 2 or 5 times a power of ten, giving about five steps up to <paramref name="max"/>.</summary>
    internal static double NiceStep(double max)
    {
        var raw = max / 5;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var f = raw / magnitude;
        return magnitude * (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10);
    }

    private static string Number(double v) => v.ToString(Math.Abs(v) >= 100 || v == Math.Floor(v) ? "0" : "0.####", CultureInfo.InvariantCulture);

    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
