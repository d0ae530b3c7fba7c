using System.Text;

namespace Tern.Sasl;

/// <summary>
/// One server-side authentication attempt with one mechanism; create a new one per AUTH command
/// with <see cref="SaslServerFactory"/>. Works on decoded bytes: the protocol layer does base64
/// and the challenge/response framing (SMTP: 334 replies, RFC 4954).
/// </summary>
/// <remarks>
/// <para>Driving it from SMTP AUTH:</para>
/// <list type="bullet">
/// <item><c>AUTH MECH</c> (no initial response): call <see cref="Start"/>.</item>
/// <item><c>AUTH MECH initial-response</c>: call <see cref="Step"/> with the decoded initial
/// response (<c>=</c> is an empty one).</item>
/// <item>On Continue send <c>334 base64(challenge)</c> and pass the next client line, decoded,
/// to <see cref="Step"/>; a line of <c>*</c> calls <see cref="Abort"/>.</item>
/// </list>
/// <para>SCRAM's server-final message ("v=...") comes as a last Continue, and the client's empty
/// answer to it completes with Success: SMTP has no "additional data with success" (RFC 4954
/// section 4), so no special case is needed in the protocol layer.</para>
/// <para>Errors in the peer's input are <see cref="SaslStatus.Failure"/> values, never
/// exceptions. Calling a method after the attempt finished is a bug in the caller and throws.</para>
/// </remarks>
public abstract class SaslServer
{
    /// <summary>The longest client message accepted, decoded; longer ones fail as <see cref="SaslFailure.Malformed"/>.</summary>
    public const int MaxResponseLength = 4096;

    private bool _started;

    private protected SaslServer()
    {
    }

    /// <summary>The mechanism name, upper case (as advertised).</summary>
    public abstract string Mechanism { get; }

    /// <summary>
    /// The name the client tried to authenticate as, once known (for logs: "auth failed for X");
    /// may name no account. Never holds a password.
    /// </summary>
    public string? AttemptedUsername { get; private protected set; }

    /// <summary>True once Success or Failure was returned.</summary>
    public bool IsComplete { get; private set; }

    /// <summary>The attempt began without an initial response: the first challenge (may be empty, SMTP "334 ").</summary>
    public SaslServerStep Start()
    {
        if (_started || IsComplete)
        {
            throw new InvalidOperationException($"{Mechanism}: Start must be the first call of an attempt");
        }

        _started = true;
        return Record(Run(default, isStart: true, isInitialResponse: false));
    }

    /// <summary>Processes a decoded client message: the initial response when it is the first call, else the answer to the last challenge.</summary>
    public SaslServerStep Step(ReadOnlySpan<byte> response)
    {
        if (IsComplete)
        {
            throw new InvalidOperationException($"{Mechanism}: the attempt has already finished");
        }

        var isInitialResponse = !_started;
        _started = true;
        if (response.Length > MaxResponseLength)
        {
            return Record(SaslServerStep.Failed(SaslFailure.Malformed));
        }

        return Record(Run(response, isStart: false, isInitialResponse));
    }

    /// <summary>The client cancelled (SMTP "*", RFC 4954 section 4).</summary>
    public SaslServerStep Abort()
    {
        if (IsComplete)
        {
            throw new InvalidOperationException($"{Mechanism}: the attempt has already finished");
        }

        return Record(SaslServerStep.Failed(SaslFailure.Aborted));
    }

    /// <summary>The first challenge when the client sent no initial response.</summary>
    private protected abstract SaslServerStep OnStart();

    /// <summary>A client message; <paramref name="isInitialResponse"/> when it came with the AUTH command.</summary>
    private protected abstract SaslServerStep OnResponse(ReadOnlySpan<byte> response, bool isInitialResponse);

    private SaslServerStep Run(ReadOnlySpan<byte> response, bool isStart, bool isInitialResponse)
    {
        try
        {
            return isStart ? OnStart() : OnResponse(response, isInitialResponse);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or DecoderFallbackException or OverflowException)
        {
            // The parsers return failures rather than throw; this is a guard so that input that
            // reaches a framework parser in an unforeseen shape still cannot escape as an exception.
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }
    }

    private SaslServerStep Record(SaslServerStep step)
    {
        IsComplete = step.Status != SaslStatus.Continue;
        return step;
    }
}
