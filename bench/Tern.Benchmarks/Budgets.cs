namespace Tern.Benchmarks;

/// <summary>
/// Allocation budget per benchmark, in bytes per operation, checked after every run (Program.cs).
/// Keyed by "Class.Method"; null means measured and reported, without a budget. Every benchmark
/// needs an entry: a new benchmark without one fails the run until its budget is decided here.
/// </summary>
internal static class Budgets
{
    public static readonly IReadOnlyDictionary<string, long?> BytesPerOperation = new Dictionary<string, long?>(StringComparer.Ordinal)
    {
        // Command parsing: slices of the input, scratch only for lines split across segments.
        ["SmtpCommandParserBenchmarks.Ehlo"] = 0,
        ["SmtpCommandParserBenchmarks.MailFrom"] = 0,
        ["SmtpCommandParserBenchmarks.RcptTo"] = 0,
        ["SmtpCommandParserBenchmarks.Data"] = 0,
        ["SmtpCommandParserBenchmarks.Rset"] = 0,
        ["SmtpCommandParserBenchmarks.Noop"] = 0,
        ["SmtpCommandParserBenchmarks.Quit"] = 0,
        ["SmtpCommandParserBenchmarks.PipelinedBatch"] = 0,
        ["SmtpCommandParserBenchmarks.PipelinedBatchSplit"] = 0,

        // SMTP client reply parsing: lines go into the connection's pooled buffer; a reply is copied
        // out (SmtpReply) only when a result keeps it, which these do not.
        ["ReplyParserBenchmarks.SingleLine"] = 0,
        ["ReplyParserBenchmarks.MultiLineEhlo"] = 0,
        ["ReplyParserBenchmarks.MultiLineEhloSplit"] = 0,

        // DATA decoding streams into the sink: nothing is buffered, whatever the message size.
        ["DataDecoderBenchmarks.Decode"] = 0,

        // A log statement that is off costs a level check and nothing else.
        ["LoggingBenchmarks.DebugOff"] = 0,

        // A line that is written: measured only.
        ["LoggingBenchmarks.DebugOn"] = null,

        // The two info lines of every relayed message: LoggerMessage boxes its state and each value-type
        // argument (int, long, bool here); the line itself is built in a reused builder (was 240 B with a
        // string per number).
        ["LoggingBenchmarks.MessageLines"] = 208,

        // The scheduler's timing wheel: pooled nodes and a reused inbox, nothing per entry at any queue size.
        ["TimingWheelBenchmarks.TakeAndReschedule"] = 0,
        ["TimingWheelBenchmarks.TakeAndRepost"] = 0,
        ["TimingWheelBenchmarks.ScheduleCancel"] = 0,
        ["MessageScheduleBenchmarks.Move"] = 0,
        ["MessageScheduleBenchmarks.TakeAndSet"] = 0,
        ["MessageScheduleBenchmarks.RemoveAndSet"] = 0,

        // A body streaming into a pooled writer: its own buffer, or one rented from the shared pool.
        ["SpoolWriterBenchmarks.WriteBody"] = 0,

        // Durable commits: FASTER allocates per commit (~1.8 KB, shared by the group); measured only.
        ["SpoolCommitBenchmarks.DurableCommit"] = null,

        // Reading a message back for delivery: the body and envelope are new objects handed to the
        // delivery (StoredMessage), so not zero, and FASTER's ReadAsync allocates its async machinery
        // (the record itself goes into a pooled buffer). Measured, not budgeted.
        ["SpoolReadBenchmarks.ReadJustCommitted"] = null,
        ["SpoolReadBenchmarks.ReadFromLog"] = null,

        // The body alone (what the delivery reads): the body array is the delivery's, so not zero either.
        ["SpoolReadBenchmarks.BodyJustCommitted"] = null,
        ["SpoolReadBenchmarks.BodyFromLog"] = null,
    };
}
