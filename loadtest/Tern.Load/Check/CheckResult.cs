using System.Text.Json.Serialization;

namespace Tern.Load.Check;

/// <summary>What <c>tern-load check</c> found (also its <c>--json</c> report).</summary>
internal sealed record CheckResult
{
    /// <summary>Distinct ids the sender had acknowledged.</summary>
    public long Sent { get; init; }

    /// <summary>Lines of the sent file that repeated an id already seen (a sender bug if not zero).</summary>
    public long SentDuplicateLines { get; init; }

    /// <summary>Lines of the received file (every message the sink accepted).</summary>
    public long Received { get; init; }

    /// <summary>Received messages that had no Message-ID (<c>-</c>), which cannot be matched.</summary>
    public long ReceivedWithoutId { get; init; }

    /// <summary>Acknowledged ids never received.</summary>
    public long Lost { get; init; }

    /// <summary>Up to <see cref="LossCheck.ListedIds"/> of the lost ids, sorted.</summary>
    public IReadOnlyList<string> LostIds { get; init; } = [];

    /// <summary>Acknowledged ids received with a body digest other than the one sent.</summary>
    public long Corrupted { get; init; }

    /// <summary>Up to <see cref="LossCheck.ListedIds"/> of the corrupted ids, sorted.</summary>
    public IReadOnlyList<string> CorruptedIds { get; init; } = [];

    /// <summary>Acknowledged ids that carried a digest (the others are only checked for loss).</summary>
    public long DigestsChecked { get; init; }

    /// <summary>Ids received more than once.</summary>
    public long DuplicatedIds { get; init; }

    /// <summary>Copies beyond the first of the duplicated ids.</summary>
    public long DuplicateCopies { get; init; }

    /// <summary>Up to <see cref="LossCheck.ListedIds"/> of the duplicated ids, sorted.</summary>
    public IReadOnlyList<string> Duplicated { get; init; } = [];

    /// <summary>Ids received but never acknowledged (in flight at a crash, or faulted after receipt).</summary>
    public long Unexpected { get; init; }
}

/// <summary>Source-generated JSON for <see cref="CheckResult"/> (no reflection under Native AOT).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(CheckResult))]
internal sealed partial class CheckJsonContext : JsonSerializerContext;
