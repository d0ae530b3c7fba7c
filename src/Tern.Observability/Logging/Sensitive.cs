namespace Tern.Observability.Logging;

/// <summary>
/// A credential passed to a logger (password, SASL response, AUTH line). Any formatter that does
/// not know this type prints <c>***</c>; Tern's formatter prints the value only when the logging
/// component is at <see cref="TernLogLevel.TraceAuth"/> or above.
/// </summary>
public readonly struct LogSecret(string value)
{
    public string Value { get; } = value;

    public override string ToString() => "***";
}

/// <summary>
/// Message data passed to a logger (a DATA or BDAT chunk). Any formatter that does not know this
/// type prints <c>...</c> and its size; Tern's formatter prints the bytes only at
/// <see cref="TernLogLevel.TraceData"/>.
/// </summary>
public readonly struct LogData(ReadOnlyMemory<byte> value)
{
    public ReadOnlyMemory<byte> Value { get; } = value;

    public override string ToString() => "...(" + Value.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) + " bytes)";
}
