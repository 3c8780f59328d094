namespace Coach.Engine.DataPlane;

/// <summary>
/// Uniform affine quantization of one tensor: <c>q = clamp(round(x / Scale) + ZeroPoint, 0, 2^Bits − 1)</c>
/// and <c>x' = (q − ZeroPoint) · Scale</c>.
/// </summary>
/// <param name="Scale">Step between two codes; finite and positive.</param>
/// <param name="ZeroPoint">The code that represents 0.0; in [0, 2^Bits − 1] for parameters made by <see cref="Uaq.Fit"/>.</param>
/// <param name="Bits">Code width, 1 to 8.</param>
public readonly record struct QuantizationParameters(float Scale, int ZeroPoint, int Bits)
{
    /// <summary>The largest code, <c>2^Bits − 1</c>.</summary>
    public int MaxCode => (1 << Bits) - 1;

    internal void Validate(string parameterName)
    {
        if (Bits is < 1 or > 8)
        {
            throw new ArgumentOutOfRangeException(parameterName, Bits, "UAQ bit width must be between 1 and 8; use 32 (no quantization) outside the packer.");
        }

        if (!float.IsFinite(Scale) || !(Scale > 0f))
        {
            throw new ArgumentOutOfRangeException(parameterName, Scale, "UAQ scale must be finite and positive; make the parameters with Uaq.Fit.");
        }
    }
}

/// <summary>SIMD width used by the UAQ kernels. Production code always uses <see cref="Uaq.VectorWidth"/>; tests pin a width.</summary>
public enum VectorWidth
{
    Scalar = 0,
    V128 = 128,
    V256 = 256,
    V512 = 512,
}
