using Tern.Load.Report;

namespace Tern.Load.Send;

/// <summary>
/// Why a connection of the sender stopped: counted as <see cref="Kind"/> for the messages it had
/// in flight (with <see cref="Code"/> when the server said no at the greeting or EHLO). A fatal abort
/// is a mismatch between the options and the server (STARTTLS asked but not offered, credentials
/// refused, ...) that no reconnect can fix: the whole run stops and says so.
/// </summary>
internal sealed class SendAbort : Exception
{
    public SendAbort(FailureKind kind, string message, int code = 0)
        : base(message)
    {
        Kind = kind;
        Code = code;
    }

    public SendAbort()
    {
    }

    public SendAbort(string message)
        : base(message)
    {
    }

    public SendAbort(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public FailureKind Kind { get; }

    public int Code { get; }

    public bool Fatal { get; init; }
}
