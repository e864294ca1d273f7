/** Modified Gram–Schmidt on the `rows` rows of `v` (`[rows, dim]`), in place. */
export function orthonormalizeRows(v: Float64Array, rows: number, dim: number): void {
  for (let a = 0; a < rows; a++) {
    const oa = a * dim;
    for (let attempt = 0; ; attempt++) {
      for (let b = 0; b < a; b++) {
        const ob = b * dim;
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += v[oa + j]! * v[ob + j]!;
        for (let j = 0; j < dim; j++) v[oa + j]! -= dot * v[ob + j]!;
      }
      let norm = 0;
      for (let j = 0; j < dim; j++) norm += v[oa + j]! * v[oa + j]!;
      norm = Math.sqrt(norm);
      if (norm > 1e-10 || attempt > dim) {
        const inv = norm > 0 ? 1 / norm : 0;
        for (let j = 0; j < dim; j++) v[oa + j]! *= inv;
        break;
      }
      // Degenerate (dependent) row: restart it from a coordinate axis.
      for (let j = 0; j < dim; j++) v[oa + j] = j === (a + attempt) % dim ? 1 : 0;
    }
  }
}
