/**
 * Errors raised while reading a request, each carrying the SPEC §1 answer it becomes.
 * The error handler (errors.ts) is the only place that turns errors into responses.
 */
import { answers, BadRequestReason, type Answer } from '../protocol/answers.js';

export class HttpProblem extends Error {
  constructor(readonly answer: Answer) {
    super(answer.body.error ?? answer.body.message);
    this.name = 'HttpProblem';
  }

  static badRequest(reason: string): HttpProblem {
    return new HttpProblem(answers.badRequest(reason));
  }

  static bodyTooLarge(): HttpProblem {
    return new HttpProblem(answers.badRequest(BadRequestReason.bodyTooLarge, 413));
  }
}
