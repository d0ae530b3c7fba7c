namespace Tern.Sasl;

/// <summary>Where an authentication exchange stands after a step.</summary>
public enum SaslStatus
{
    /// <summary>Send the challenge (server) or response (client) and wait for the peer.</summary>
    Continue,

    /// <summary>The exchange finished and the peer is authenticated.</summary>
    Success,

    /// <summary>The exchange finished without authentication; <see cref="SaslFailure"/> says why.</summary>
    Failure,
}
