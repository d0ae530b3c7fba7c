namespace Tern.Load.Report;

/// <summary>What a run's report says about the run and where it goes.</summary>
/// <param name="Mode">send, http or sink.</param>
/// <param name="Target">The server driven (host:port or URL), or the sink's listen address.</param>
/// <param name="Parameters">The run's settings as shown in the summary and the JSON/HTML reports (name, value).</param>
/// <param name="JsonPath">Where to write the machine-readable report, or null.</param>
/// <param name="HtmlPath">Where to write the self-contained HTML report, or null.</param>
/// <param name="Interactive">A live progress line rewritten in place (a terminal); false prints plain lines.</param>
/// <param name="Interval">How often the progress is sampled (and the time-series resolution).</param>
public sealed record ReportOptions(
    string Mode,
    string Target,
    IReadOnlyList<KeyValuePair<string, string>> Parameters,
    string? JsonPath,
    string? HtmlPath,
    bool Interactive,
    TimeSpan Interval);
