using System.Text;

namespace Tern.Sasl;

/// <summary>
/// One client-side authentication attempt (Tern authenticating to a smarthost); create it with
/// <see cref="SaslClientFactory"/>. Works on decoded bytes, like <see cref="SaslServer"/>.
/// </summary>
/// <remarks>
/// <para>Driving it from SMTP AUTH (RFC 4954):</para>
/// <list type="bullet">
/// <item><see cref="Start"/>: a non-null Response goes with the command as the initial response
/// (<c>AUTH MECH base64</c>, <c>=</c> when empty); null means <c>AUTH MECH</c> alone.</item>
/// <item>Each 334 challenge, decoded, goes to <see cref="Step"/>; send the Response back. On
/// Failure send <c>*</c> to cancel.</item>
/// <item>On 235 call <see cref="Complete"/>: for SCRAM it fails unless the server proved it knows
/// the password too (its signature arrived and was right); treat that failure as a failed
/// delivery attempt, not as authenticated.</item>
/// </list>
/// <para>Errors in the server's input are Failure values, never exceptions. The client holds the
/// password: do not log it or its responses.</para>
/// </remarks>
public abstract class SaslClient
{
    /// <summary>The longest server challenge accepted, decoded.</summary>
    public const int MaxChallengeLength = 4096;

    private bool _started;

    private protected SaslClient()
    {
    }

    public abstract string Mechanism { get; }

    /// <summary>True once Success or Failure was returned.</summary>
    public bool IsComplete { get; private set; }

    /// <summary>The initial response (Continue with a null Response: the mechanism waits for a challenge).</summary>
    public SaslClientStep Start()
    {
        if (_started)
        {
            throw new InvalidOperationException($"{Mechanism}: Start was already called");
        }

        _started = true;
        return Record(OnStart());
    }

    /// <summary>Answers a decoded server challenge.</summary>
    public SaslClientStep Step(ReadOnlySpan<byte> challenge) => Guarded(challenge, OnChallenge);

    /// <summary>
    /// The server reported success (SMTP 235), with the additional data if the protocol carries
    /// any (SMTP does not: pass nothing). Success, or Failure when the exchange is not finished
    /// from the client's side (e.g. no valid SCRAM server signature).
    /// </summary>
    public SaslClientStep Complete(ReadOnlySpan<byte> additionalData = default) => Guarded(additionalData, OnComplete);

    /// <summary>Runs one step on data from the server: size-checked, and never throwing for bad input.</summary>
    private SaslClientStep Guarded(ReadOnlySpan<byte> data, SpanStep step)
    {
        EnsureRunning();
        if (data.Length > MaxChallengeLength)
        {
            return Record(SaslClientStep.Failed(SaslFailure.Malformed));
        }

        try
        {
            return Record(step(data));
        }
        catch (Exception e) when (e is FormatException or ArgumentException or DecoderFallbackException or OverflowException)
        {
            // Guard only: the parsers return failures rather than throw.
            return Record(SaslClientStep.Failed(SaslFailure.Malformed));
        }
    }

    private delegate SaslClientStep SpanStep(ReadOnlySpan<byte> data);

    private protected abstract SaslClientStep OnStart();

    private protected abstract SaslClientStep OnChallenge(ReadOnlySpan<byte> challenge);

    private protected abstract SaslClientStep OnComplete(ReadOnlySpan<byte> additionalData);

    private void EnsureRunning()
    {
        if (!_started)
        {
            throw new InvalidOperationException($"{Mechanism}: call Start first");
        }

        if (IsComplete)
        {
            throw new InvalidOperationException($"{Mechanism}: the attempt has already finished");
        }
    }

    private SaslClientStep Record(SaslClientStep step)
    {
        IsComplete = step.Status != SaslStatus.Continue;
        return step;
    }
}
