namespace Tern.Smtp.Server;

/// <summary>Outcome of storing a message.</summary>
public enum StoreStatus
{
    /// <summary>The message is durable: the server may answer 250.</summary>
    Stored,

    /// <summary>Temporary trouble (disk full, I/O error): 452 4.3.1; nothing half-written remains.</summary>
    TemporaryFailure,

    /// <summary>The store cannot hold an envelope this large (too many or too long recipients): 552 5.3.4, for good.</summary>
    EnvelopeTooLarge,
}

/// <summary>
/// Where accepted messages go (the spool). The session streams the body into a writer as it arrives
/// and answers 250 only once <see cref="IMessageWriter.CommitAsync"/> says the message is durable.
/// </summary>
public interface IMessageStore
{
    /// <summary>Starts a message for the envelope (read it now: it is reused after the transaction).</summary>
    IMessageWriter Begin(SmtpEnvelope envelope);

    /// <summary>
    /// Asked at MAIL: whether there is room for a message of <paramref name="declaredSize"/> bytes
    /// (SIZE=, negative when not declared). False: 452 4.3.1, as Postfix does below queue_minfree.
    /// Called for every MAIL: it must be cheap (no syscall per call).
    /// </summary>
    bool HasRoom(long declaredSize) => true;
}

/// <summary>One message being received. Disposing it without a successful commit discards it.</summary>
public interface IMessageWriter : IDisposable
{
    /// <summary>The queue id, ASCII, used in the Received header and the 250 reply.</summary>
    ReadOnlySpan<byte> Id { get; }

    /// <summary>Appends body bytes (the Received header first, then the message as received, unstuffed).</summary>
    void Write(ReadOnlySpan<byte> data);

    /// <summary>Makes the message durable. Called once, after the last <see cref="Write"/>.</summary>
    ValueTask<StoreStatus> CommitAsync(SmtpEnvelope envelope, CancellationToken cancel);
}
